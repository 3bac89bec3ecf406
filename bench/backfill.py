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

import argparse
import shutil
from pathlib import Path

from bench import history as histories
from bench.pipeline_run import emit, run


def prepare(history: Path, work: Path, until: str | None) -> int:
    if work.exists():
        shutil.rmtree(work)
    return histories.link(history, work / "landing", until=until)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.backfill", description=__doc__.splitlines()[0])
    parser.add_argument("history", type=Path)
    parser.add_argument("--work", type=Path, required=True, help="a scratch folder on the history's filesystem (emptied)")
    parser.add_argument("--until", help="the last month to load (YYYY-MM); default: all")
    parser.add_argument("--prepare-only", action="store_true")
    args = parser.parse_args(argv)
    if args.prepare_only:
        emit({"linked": prepare(args.history, args.work, args.until)})
        return
    emit(run(args.history, args.work))


if __name__ == "__main__":
    main()
