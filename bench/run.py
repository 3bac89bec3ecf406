"""`python -m bench.run <stage> HISTORY [HISTORY ...]`: measure a stage of the pipeline on histories.

Each stage runs once per history (or `--repeat` times) in a fresh process of
its own, measured as a whole process (`bench.process`: wall time, CPU time,
peak memory); the results are printed as a markdown table, after a line that
describes the machine, or as JSON with `--format json`.

Stages are registered in `STAGES`. A stage is a module `bench.<name>` that
runs as `python -m bench.<name> HISTORY [options]` and prints one JSON object
of its own counters (returns, files, rows, ...) as its last line; its entry
here names the options passed through to it. A stage that needs its work
folder set up first is run with `--prepare-only` before each measured run
(not measured). `--with-floor` also measures the floor of the same returns
(for an incremental month, of that month only), so the table gives each
stage as a multiple of its floor measured in the same session.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
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
    prepare: bool = False  # run `--prepare-only` before each measured run
    pipeline: bool = False  # a `fostering run`: the pipeline table, not the floor's


WORK = ("--work", {"type": Path, "required": True, "help": "scratch folder on the history's filesystem"})


STAGES = {
    "floor": Stage(
        help="read every file of the history into memory with the fastest reader; no validation, no writes",
        options=(
            ("--reader", {"choices": ("auto", "duckdb"), "default": "auto",
                          "help": "auto: pyarrow for CSV, calamine (or fastexcel) for XLSX; duckdb: a comparison"}),
            ("--hold", {"choices": ("all", "none"), "default": "all",
                        "help": "all: keep every table in memory to the end; none: drop each return once read"}),
            ("--threads", {"type": int, "help": "returns read at once (default: one per core)"}),
            ("--month", {"help": "only the returns of this month (YYYY-MM)"}),
            ("--until", {"help": "only the returns of months up to this one (YYYY-MM)"}),
        ),
    ),
    "backfill": Stage(
        help="the whole history through `fostering run` (ingest, dbt, gate, publish) into an empty warehouse",
        options=(WORK, ("--until", {"help": "the last month to load (YYYY-MM), leaving the rest for `incremental`"})),
        prepare=True,
        pipeline=True,
    ),
    "incremental": Stage(
        help="the next month of every LA through `fostering run`, on top of a backfill (of the same --work)",
        options=(WORK, ("--month", {"help": "the month to add; default: the first the work folder lacks"})),
        prepare=True,
        pipeline=True,
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
        sub.add_argument("--with-floor", action="store_true", help="also measure the floor of the same returns")
        for flag, keywords in stage.options:
            sub.add_argument(flag, **keywords)
    args = parser.parse_args(argv)
    stage = STAGES[args.stage]
    passed = [part for flag, _ in stage.options for part in _passed(flag, args)]
    machine = describe()
    results = []
    for history in args.histories:
        runs, floor = [], None
        for _ in range(args.repeat):
            prepared = _prepare(args.stage, history, passed) if stage.prepare else {}
            if args.with_floor and floor is None:
                month, until = prepared.get("month") or getattr(args, "month", None), getattr(args, "until", None)
                which = [*(["--month", month] if month else []), *(["--until", until] if until else [])]
                floor = measure([sys.executable, "-m", "bench.floor", str(history), *which], cwd=PROJECT_ROOT)
            runs.append(measure([sys.executable, "-m", f"bench.{args.stage}", str(history), *passed], cwd=PROJECT_ROOT))
        failed = [run for run in runs if run.exit_code != 0]
        if failed:
            print(f"bench: {args.stage} failed on {history} (exit {failed[0].exit_code})", file=sys.stderr)
            return 1
        results.append((history, _median(runs), runs, floor))
    if args.format == "json":
        print(json.dumps({
            "stage": args.stage, "options": passed, "machine": machine,
            "results": [
                {"history": str(h), "shown": asdict(m), "runs": [asdict(r) for r in rs], "floor": asdict(f) if f else None}
                for h, m, rs, f in results
            ],
        }, indent=2))
    else:
        print(markdown(machine))
        print()
        shown = [(h, m, f) for h, m, _, f in results]
        print(pipeline_table(args.stage, shown, args.repeat) if stage.pipeline else table(args.stage, [(h, m) for h, m, _ in shown], args.repeat))
    return 0


def _prepare(stage: str, history: Path, passed: list[str]) -> dict:
    """The stage's unmeasured set-up; the JSON object it printed."""
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{stage}", str(history), *passed, "--prepare-only"],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True, check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def pipeline_table(stage: str, results: list[tuple[Path, Measurement, Measurement | None]], repeat: int) -> str:
    """One row per history: the whole process, its steps, and the floor of the same returns."""
    head = ("history", "returns", "placement rows", "months built", "wall s", "CPU s", "peak tree RSS MB",
            "ingest s", "dbt s", "gate s", "publish s", "floor wall s", "wall × floor", "warehouse MB")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for history, m, floor in results:
        r = m.report
        lines.append("| " + " | ".join((
            history.name, f"{r.get('returns', 0):,}", f"{r.get('rows', 0):,}", str(r.get("months_built", "")),
            f"{m.wall_s:.1f}", f"{m.user_s + m.sys_s:.1f}", f"{m.peak_tree_rss_mb:,.0f}",
            f"{r.get('ingest_s', 0):.1f}", f"{r.get('dbt_s', 0):.1f}", f"{r.get('gate_s', 0):.1f}", f"{r.get('publish_s', 0):.1f}",
            f"{floor.wall_s:.1f}" if floor else "", f"{m.wall_s / floor.wall_s:.1f}" if floor else "",
            f"{r.get('warehouse_mb', 0):,.0f}",
        )) + " |")
    lines.append("")
    lines.append(f"Stage `{stage}`; {'median of ' + str(repeat) + ' runs' if repeat > 1 else 'one run'} per history; "
                 "the floor reads the same returns (hold all).")
    return "\n".join(lines)


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
