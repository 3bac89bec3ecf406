"""`python -m bench.run <stage> HISTORY [HISTORY ...]`: measure a stage of the pipeline on histories.

Each stage runs once per history (or `--repeat` times) in a fresh process of
its own, measured as a whole process (`bench.process`: wall time, CPU time,
peak memory); the results are printed as a markdown table, after a line that
describes the machine, or as JSON with `--format json`.

Stages are registered in `STAGES`. A stage is a module `bench.<name>` that
runs as `python -m bench.<name> HISTORY [options]` and prints one JSON object
of its own counters (returns, files, rows, ...) as its last line; its entry
here names the options passed through to it. To add one (backfill,
incremental, ...): write the module, then add a `Stage` to `STAGES`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.machine import describe, markdown
from bench.process import Measurement, measure

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Stage:
    help: str
    # Options passed through to the stage's module: (flag, argparse keywords).
    options: tuple[tuple[str, dict], ...] = field(default=())


STAGES = {
    "floor": Stage(
        help="read every file of the history into memory with the fastest reader; no validation, no writes",
        options=(
            ("--reader", {"choices": ("auto", "duckdb"), "default": "auto",
                          "help": "auto: pyarrow for CSV, calamine (or fastexcel) for XLSX; duckdb: a comparison"}),
            ("--hold", {"choices": ("all", "none"), "default": "all",
                        "help": "all: keep every table in memory to the end; none: drop each return once read"}),
            ("--threads", {"type": int, "help": "returns read at once (default: one per core)"}),
        ),
    ),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    stages = parser.add_subparsers(dest="stage", required=True)
    for name, stage in STAGES.items():
        sub = stages.add_parser(name, help=stage.help, description=stage.help)
        sub.add_argument("histories", nargs="+", type=Path, metavar="HISTORY", help="a folder of returns")
        sub.add_argument("--repeat", type=int, default=1, help="runs per history; the run with the median wall time is shown")
        sub.add_argument("--format", choices=("markdown", "json"), default="markdown")
        for flag, keywords in stage.options:
            sub.add_argument(flag, **keywords)
    args = parser.parse_args(argv)
    stage = STAGES[args.stage]
    passed = [part for flag, _ in stage.options for part in _passed(flag, args)]
    machine = describe()
    results = []
    for history in args.histories:
        runs = [
            measure([sys.executable, "-m", f"bench.{args.stage}", str(history), *passed], cwd=PROJECT_ROOT)
            for _ in range(args.repeat)
        ]
        failed = [run for run in runs if run.exit_code != 0]
        if failed:
            print(f"bench: {args.stage} failed on {history} (exit {failed[0].exit_code})", file=sys.stderr)
            return 1
        results.append((history, _median(runs), runs))
    if args.format == "json":
        print(json.dumps({
            "stage": args.stage, "options": passed, "machine": machine,
            "results": [{"history": str(h), "shown": asdict(m), "runs": [asdict(r) for r in rs]} for h, m, rs in results],
        }, indent=2))
    else:
        print(markdown(machine))
        print()
        print(table(args.stage, [(h, m) for h, m, _ in results], len(results[0][2])))
    return 0


def table(stage: str, results: list[tuple[Path, Measurement]], repeat: int) -> str:
    """One row per history; the growth columns compare each row with the first."""
    first = results[0][1]
    head = ("history", "reader", "hold", "returns", "files", "rows", "MB on disk", "wall s", "in-process s", "CPU s",
            "peak RSS MB", "peak tree RSS MB", "wall × first", "peak × first")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for history, m in results:
        r = m.report
        lines.append("| " + " | ".join((
            history.name, r.get("reader", ""), r.get("hold", ""), f"{r.get('returns', 0):,}", f"{r.get('files', 0):,}", f"{r.get('rows', 0):,}",
            f"{r.get('bytes', 0) / 1e6:,.0f}", f"{m.wall_s:.1f}", f"{r.get('read_s', 0):.1f}", f"{m.user_s + m.sys_s:.1f}",
            f"{m.peak_rss_mb:,.0f}", f"{m.peak_tree_rss_mb:,.0f}",
            f"{m.wall_s / first.wall_s:.2f}", f"{m.peak_rss_mb / first.peak_rss_mb:.2f}",
        )) + " |")
    lines.append("")
    lines.append(f"Stage `{stage}`; {'median of ' + str(repeat) + ' runs' if repeat > 1 else 'one run'} per history.")
    return "\n".join(lines)


def _passed(flag: str, args: argparse.Namespace) -> list[str]:
    value = getattr(args, flag.lstrip("-").replace("-", "_"))
    return [] if value is None else [flag, str(value)]


def _median(runs: list[Measurement]) -> Measurement:
    middle = statistics.median_low([run.wall_s for run in runs])
    return next(run for run in runs if run.wall_s == middle)


if __name__ == "__main__":
    sys.exit(main())
