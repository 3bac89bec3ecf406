"""`python -m bench.validation_cpu HISTORY [--returns N]`: validation's CPU per return, in batches as ingest checks them.

Reads the first N returns of a history (`fostering sample --national --months 4`
writes one with about 550 placements per return), then validates them in
batches of 50, three times, and prints the best CPU time per return. Reading is
not timed: this is what validation (shape, cell typing, the contract's rules,
findings) costs on top of the floor. Run it on two checkouts to compare them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.validation_cpu", description=__doc__.splitlines()[0])
    parser.add_argument("history", type=Path)
    parser.add_argument("--returns", type=int, default=300)
    parser.add_argument("--batch", type=int, default=50)
    args = parser.parse_args(argv)
    reference = args.history / ".reference"
    if reference.is_dir():
        os.environ.setdefault("FOSTERING_REFERENCE_DIR", str(reference))
    from orchestration.returns.readers import read_return
    from orchestration.returns.validate import validate_many

    paths = sorted(p for la in args.history.iterdir() if not la.name.startswith(".") for p in la.iterdir())[: args.returns]
    reads = [(p, read_return(p, 10**9)) for p in paths]
    times = []
    for _ in range(3):
        started = time.process_time()
        for i in range(0, len(reads), args.batch):
            validate_many(reads[i : i + args.batch], today=dt.date(2026, 12, 1))
        times.append(time.process_time() - started)
    best = min(times)
    print(f"{len(reads)} returns, batches of {args.batch}: validation CPU {best:.2f} s, {1000 * best / len(reads):.1f} ms per return")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
