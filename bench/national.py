"""`python -m bench.national HISTORY --work DIR`: the benchmark's pipeline figures in one command.

Runs, one after the other and each as `bench.run` measures it (a fresh,
whole process, with the floor of the same returns measured just before): the
backfill of every month of the history but its last, then that last month on
top as an incremental month. Prints the machine, then one table with both
rows, as `docs/benchmarks.md` holds it. `--work` is emptied first.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from bench import history as histories
from bench.machine import markdown
from bench.process import Measurement
from bench.run import PROJECT_ROOT, pipeline_table


def _stage(stage: str, history: Path, work: Path, *extra: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", stage, str(history), "--work", str(work), "--with-floor", "--format", "json", *extra],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True, check=True,
    )
    return json.loads(done.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.national", description=__doc__.splitlines()[0])
    parser.add_argument("history", type=Path, help="a history from `fostering sample --national`")
    parser.add_argument("--work", type=Path, required=True, help="a scratch folder on the history's filesystem (emptied)")
    args = parser.parse_args(argv)
    months = histories.months(args.history)
    if len(months) < 2:
        parser.error(f"{args.history} needs at least two months: a backfill, then a month on top")
    backfill = _stage("backfill", args.history, args.work, "--until", months[-2])
    incremental = _stage("incremental", args.history, args.work)
    rows = []
    for label, result in ((f"backfill to {months[-2]}", backfill), (f"incremental {months[-1]}", incremental)):
        shown = result["results"][0]
        rows.append((Path(f"{args.history.name}, {label}"), Measurement(**shown["shown"]), Measurement(**shown["floor"])))
    print(markdown(backfill["machine"]))
    print()
    print(pipeline_table("backfill, then incremental", rows, 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
