"""An incremental month: the history's next month for every LA, on top of a backfilled warehouse.

The work folder must hold a backfill of the history up to the month before
(`python -m bench.backfill HISTORY --work DIR --until <month before>`, or
`bench.run backfill ... --until`). `--prepare-only` hard-links the next month's
returns into DIR/landing (not measured); the measured run is then one
`fostering run`: it ingests only the new returns and rebuilds only the months
they touch.

Run as `python -m bench.incremental HISTORY --work DIR [--month YYYY-MM] [--prepare-only]`.
Prints one JSON line of counters.
"""

from __future__ import annotations

from pathlib import Path

from bench import history as histories
from bench.pipeline_run import emit, run, stage_parser


def next_month(history: Path, work: Path) -> str:
    """The first month of the history not yet in the work folder's landing."""
    landed = set(histories.months(work / "landing")) if (work / "landing").exists() else set()
    todo = [m for m in histories.months(history) if m not in landed]
    if not todo:
        raise SystemExit(f"every month of {history} is already in {work}/landing: nothing to add")
    return todo[0]


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser("bench.incremental", __doc__, "the folder of an earlier backfill stage")
    parser.add_argument("--month", help="the month to add (YYYY-MM); default: the first not yet landed")
    args = parser.parse_args(argv)
    if not (args.work / "data" / "warehouse.duckdb").exists():
        parser.error(f"{args.work} holds no backfilled warehouse: run the backfill stage with --until first")
    if args.prepare_only:
        month = args.month or next_month(args.history, args.work)
        emit({"month": month, "linked": histories.link(args.history, args.work / "landing", only=month)})
        return
    emit(run(args.history, args.work))


if __name__ == "__main__":
    main()
