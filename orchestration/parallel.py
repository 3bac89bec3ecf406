"""Spread independent per-return work over the machine's cores.

Reading and validating one return does not depend on any other, so a batch
is shared between worker processes; results come back in input order.
Worker processes are spawned, not forked: a fork would inherit the parent's
open DuckDB connection and Dagster state.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor

# Below this many items, starting worker processes costs more than it saves.
PARALLEL_FROM = 8


def ordered_map(fn: Callable, items: list, workers: int | None = None) -> Iterator:
    """`map(fn, items)`, in parallel for large batches; `fn` must be a module-level function."""
    workers = workers or os.cpu_count() or 1
    if len(items) < PARALLEL_FROM or workers < 2:
        yield from map(fn, items)
        return
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield from pool.map(fn, items, chunksize=4)

