"""Full backfill: every return of a history through `fostering run` into an empty warehouse.

Ingest with validation and pseudonymisation, the dbt build of every mart
(every month), the quality gate and the publish, as one command does it.

Run as `python -m bench.backfill HISTORY --work DIR [--until YYYY-MM] [--prepare-only]`.
`--prepare-only` empties DIR and hard-links the returns into DIR/landing (not
measured: `bench.run` does it before the measured run). `--until` stops at a
month, leaving the last month(s) for the `incremental` stage. Prints one JSON
line of counters.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from bench import history as histories
from bench.pipeline_run import emit, run, stage_parser


def prepare(history: Path, work: Path, until: str | None) -> int:
    if work.exists():
        shutil.rmtree(work)
    return histories.link(history, work / "landing", until=until)


def main(argv: list[str] | None = None) -> None:
    parser = stage_parser("bench.backfill", __doc__, "a scratch folder on the history's filesystem (emptied)")
    parser.add_argument("--until", help="the last month to load (YYYY-MM); default: all")
    args = parser.parse_args(argv)
    if args.prepare_only:
        emit({"linked": prepare(args.history, args.work, args.until)})
        return
    emit(run(args.history, args.work))


if __name__ == "__main__":
    main()
