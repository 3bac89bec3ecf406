"""An exclusive lock between processes, on a lock file, that says who to wait for.

`flock` is released by the kernel when its holder dies, so a killed run never
leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import time
from pathlib import Path


@contextlib.contextmanager
def exclusive_lock(lock_path: Path, busy: Exception, timeout_s: float = 600.0, on_wait=None):
    """Hold the lock on `lock_path`, waiting up to `timeout_s`; then raise `busy`.

    `on_wait()` is called once, when the lock is found taken, so a person can be told.
    """
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a+") as handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if on_wait is not None:
                    on_wait()
                    on_wait = None
                if time.monotonic() > deadline:
                    raise busy from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
