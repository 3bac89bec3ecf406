"""Run a stage in a fresh process and measure that whole process.

Wall time is from just before the process starts to just after it ends, so it
includes the interpreter's start-up and imports. Peak memory is measured two
ways: the kernel's own peak resident set (`ru_maxrss` from `wait4`, exact, the
largest single process of the tree: the process itself, or one of its own
worker processes if that was larger), and the sum of the resident sets of the
process and all its descendants, sampled every 50 ms from /proc (what the
machine had to hold at once; it can miss a peak shorter than the interval).
The stage reports its own counters as one JSON object on its last stdout line.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")
SAMPLE_SECONDS = 0.05


@dataclass
class Measurement:
    wall_s: float
    user_s: float
    sys_s: float
    peak_rss_mb: float  # ru_maxrss: the largest single process
    peak_tree_rss_mb: float  # sampled: the process and its descendants together
    exit_code: int
    report: dict = field(default_factory=dict)  # the stage's own counters


def measure(argv: list[str], cwd: Path | None = None, env: dict | None = None) -> Measurement:
    """Run `argv` to its end; its figures and the JSON object it printed last."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, cwd=cwd, env=env, text=True)
    peak = _TreeSampler(proc.pid)
    peak.start()
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
    peak.stop()
    lines = [line for line in out.splitlines() if line.strip()]
    report = json.loads(lines[-1]) if proc.returncode == 0 and lines else {}
    return Measurement(
        wall_s=wall,
        user_s=usage.ru_utime,
        sys_s=usage.ru_stime,
        peak_rss_mb=usage.ru_maxrss / 1024,  # KiB on Linux
        peak_tree_rss_mb=peak.peak_bytes / 2**20,
        exit_code=proc.returncode,
        report=report,
    )


class _TreeSampler(threading.Thread):
    """Samples the summed resident set of a process and its descendants until stopped."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_bytes = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.peak_bytes = max(self.peak_bytes, tree_rss(self.pid))
            self._stop_event.wait(SAMPLE_SECONDS)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def tree_rss(root: int) -> int:
    """Bytes resident in `root` and every process descended from it, now (0 once it has gone)."""
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo.extend(int(child) for child in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue  # ended meanwhile
    return total
