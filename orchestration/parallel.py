"""Spread independent per-return work over the machine's cores.

Reading and validating one return does not depend on any other, so a batch
is shared between worker processes; results come back in input order.
Worker processes are spawned, not forked: a fork would inherit the parent's
open DuckDB connection and Dagster state.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor

# Below this many items, starting worker processes costs more than it saves.
PARALLEL_FROM = 8


def ordered_map(
    fn: Callable, items: list, workers: int | None = None, chunksize: int = 4, parallel_from: int = PARALLEL_FROM
) -> Iterator:
    """`map(fn, items)`, in parallel from `parallel_from` items; `fn` must be a module-level function.

    Items that are themselves batches of work want `chunksize=1` and a lower `parallel_from`.
    """
    workers = workers or os.cpu_count() or 1
    if len(items) < parallel_from or workers < 2:
        yield from map(fn, items)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_die_with_parent) as pool:
        yield from pool.map(fn, items, chunksize=chunksize)



def batches(items: list, most: int, workers: int | None = None) -> list[list]:
    """`items` in batches of at most `most`, small enough that every worker gets several."""
    per_worker = max(1, len(items) // (4 * (workers or os.cpu_count() or 1)))
    size = min(most, per_worker)
    return [items[i : i + size] for i in range(0, len(items), size)]


def _die_with_parent() -> None:
    """A worker ends when the process that started it does, even on SIGKILL (Linux)."""
    if sys.platform.startswith("linux"):
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
