"""Garbage input (issue 12): how long validation takes on a return of printable garbage.

Writes CSV-folder returns (tests/fixtures/garbage.py) into a temporary folder
outside the repository, in three kinds, each at 2 MB and 20 MB of garbage:

- `table`: placements.csv is garbage (no header row recognised); the other tables are good;
- `headed`: placements.csv has its good header row, then garbage, so every cell is checked;
- `all`: every table's CSV is garbage, the sizes summed.

For each it measures `validate_path` inside this process (the median of
`--repeat` runs, after the contract is loaded once), then the whole
`fostering validate --format json` command in a fresh process (start-up and
imports included), and counts the findings listed and the ones not listed.

Run as `python -m bench.garbage [--sizes 2,20] [--kinds table,headed,all] [--repeat 3] [--no-cli]`.
Prints the machine, a markdown table, then one JSON line of every figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.machine import describe, markdown
from orchestration.returns.findings import not_listed
from orchestration.returns.validate import validate_path
from tests.fixtures.garbage import garbage_return, garbage_table_return

KINDS = {
    "table": lambda path, size, seed: garbage_table_return(path, size, seed),
    "headed": lambda path, size, seed: garbage_table_return(path, size, seed, keep_header=True),
    "all": lambda path, size, seed: garbage_return(path, size, seed),
}
LIMIT = 256 * 1024 * 1024


def measure(kind: str, megabytes: int, folder: Path, repeat: int, cli: bool) -> dict:
    path = KINDS[kind](folder / f"{kind}-{megabytes}mb", megabytes * 1_000_000, 1)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = validate_path(path, max_expanded_bytes=LIMIT)
        times.append(time.perf_counter() - started)
    row = {
        "kind": kind,
        "MB": megabytes,
        "validate s": round(statistics.median(times), 2),
        "status": result.status,
        "findings listed": len(result.findings),
        "not listed": not_listed(result.findings),
    }
    if cli:
        row["fostering validate s"] = round(_cli_seconds(path), 2)
    return row


def _cli_seconds(path: Path) -> float:
    command = [str(Path(sys.executable).parent / "fostering"), "validate", "--format", "json", str(path)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"fostering validate failed ({done.returncode}): {done.stderr[-2000:]}")
    return elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.garbage", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="2,20", help="megabytes of garbage per return, comma-separated (default 2,20)")
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"which returns, comma-separated (default {','.join(KINDS)})")
    parser.add_argument("--repeat", type=int, default=3, help="in-process runs per return; the median is shown (default 3)")
    parser.add_argument("--no-cli", action="store_true", help="do not time the whole `fostering validate` command")
    args = parser.parse_args(argv)
    kinds = [k for k in args.kinds.split(",") if k]
    unknown = set(kinds) - set(KINDS)
    if unknown:
        parser.error(f"unknown kind(s) {sorted(unknown)}: choose from {sorted(KINDS)}")
    print(markdown(describe()))
    validate_path(Path(tempfile.gettempdir()) / "no-such-return", max_expanded_bytes=LIMIT)  # loads the contract once
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-garbage-") as tmp:
        for megabytes in (int(s) for s in args.sizes.split(",") if s):
            for kind in kinds:
                rows.append(measure(kind, megabytes, Path(tmp), args.repeat, not args.no_cli))
    heads = list(rows[0])
    print("| " + " | ".join(heads) + " |")
    print("|" + "---|" * len(heads))
    for row in rows:
        print("| " + " | ".join(f"{row[h]:,}" if isinstance(row[h], int) else str(row[h]) for h in heads) + " |")
    print(json.dumps({"returns": len(rows), "rows": rows}))


if __name__ == "__main__":
    main()
