"""Long work says how it is going: a bar on a terminal, plain lines in a log or CI.

A national backfill or a first load of the sample takes minutes, and a command
that prints nothing for minutes looks hung. The command line installs a
`Progress` on its stderr (`use`); the assets and the ingest ask for the current
one (`current`) and report:

- `stage(name)`: a stage started, and when it finished, its time (or that it failed);
- `counter(name, total)`: items done of the total, with the rate and an estimate
  of the time left.

On a terminal a counter redraws one line in place (`\\r`); anywhere else (a log
file, CI) it writes a plain line at most every `plain_every_s` seconds and a
last one when done, so a log is readable and never floods. Outside the command
line (a Dagster deployment, a test), `current()` is `SILENT`: nothing is written.
Reporting never touches the data: these are messages only.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from typing import IO, Callable, Iterator

BAR_WIDTH = 24
SETTLE_S = 2.0  # no rate or time left before this long
TTY_EVERY_S = 0.1  # a terminal's bar is redrawn at most ten times a second


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


class Counter:
    """Items done of a known total: `advance(n)` as each batch finishes, `close()` at the end."""

    def __init__(self, progress: "Progress", name: str, total: int | None, unit: str):
        self.progress, self.name, self.total, self.unit = progress, name, total, unit
        self.done = 0
        self.started = progress.clock()
        self._last_plain = self.started
        self._silent = total == 0  # nothing to count: nothing to say
        self._closed = False
        if not self._silent:
            progress._draw(self)

    def advance(self, n: int = 1) -> None:
        self.done = self.done + n if self.total is None else min(self.total, self.done + n)
        now = self.progress.clock()
        every = TTY_EVERY_S if self.progress.tty else self.progress.plain_every_s
        if not (self._closed or self._silent) and now - self._last_plain >= every:
            self._last_plain = now
            self.progress._draw(self)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if not self._silent:
                self.progress._finish(self)

    def line(self) -> str:
        """`name: 45/120 returns · 3.2/s · about 23s left` (the bar is added on a terminal); when closed,
        `name: 120 returns in 37.5s`. With no known total, the count and the rate only."""
        elapsed = max(self.progress.clock() - self.started, 1e-9)
        if self._closed:
            return f"{self.name}: {self.done} {self.unit} in {_duration(elapsed)}"
        text = f"{self.name}: {self.done}/{self.total} {self.unit}" if self.total else f"{self.name}: {self.done} {self.unit}"
        if self.done and elapsed >= SETTLE_S:  # a rate from the first second or two says nothing
            rate = self.done / elapsed
            text += f" · {rate:.1f}/s"
            if self.total and self.done < self.total:
                text += f" · about {_duration((self.total - self.done) / rate)} left"
        return text


class Progress:
    """Where progress goes: `stream` (stderr), as a bar when it is a terminal, else plain lines."""

    def __init__(self, stream: IO[str], *, tty: bool | None = None, plain_every_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic):
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.plain_every_s = plain_every_s
        self.clock = clock
        self._drawn = False  # a bar is on the terminal's current line
        self._active: Counter | None = None  # the counter being drawn
        self._lock = threading.Lock()

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: progress is never worth failing the work
            pass

    def _clear(self) -> None:
        if self._drawn:
            self._write("\r\x1b[K")
            self._drawn = False

    def say(self, text: str) -> None:
        """A line of its own, above a bar being drawn."""
        self.say_to(None, text)

    def say_to(self, stream: IO[str] | None, text: str) -> None:
        """A line on `stream` (this progress's own when None), the bar cleared first and drawn again after."""
        with self._lock:
            redraw = self._drawn and self._active is not None
            self._clear()
            if stream is None or stream is self.stream:
                self._write(text + "\n")
            else:
                stream.write(text + "\n")
                stream.flush()
            if redraw:
                self._draw_bar(self._active)

    def _draw_bar(self, counter: Counter) -> None:
        if counter.total:
            filled = int(BAR_WIDTH * counter.done / counter.total)
            self._write(f"\r\x1b[K[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {counter.line()}")
        else:  # no total: the count alone
            self._write(f"\r\x1b[K{counter.line()}")
        self._drawn = True

    def _draw(self, counter: Counter) -> None:
        with self._lock:
            self._active = counter
            if self.tty:
                self._draw_bar(counter)
            else:
                self._write(counter.line() + "\n")

    def _finish(self, counter: Counter) -> None:
        with self._lock:
            self._active = None
            self._clear()
            self._write(counter.line() + "\n")

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """`name…` when it starts; `name: done in 12.3s` (or `failed after`) when it ends."""
        started = self.clock()
        self.say(f"{name}…")
        try:
            yield
        except BaseException:
            self.say(f"{name}: failed after {_duration(self.clock() - started)}")
            raise
        self.say(f"{name}: done in {_duration(self.clock() - started)}")

    @contextlib.contextmanager
    def counter(self, name: str, total: int | None, unit: str = "returns") -> Iterator[Counter]:
        """A counter that writes its last line when the block ends (also on an error); `total` None: not known."""
        count = Counter(self, name, total, unit)
        try:
            yield count
        finally:
            count.close()


class _Silent(Progress):
    """Progress that goes nowhere: what a deployment's runs and the tests get."""

    def __init__(self) -> None:
        super().__init__(sys.stderr, tty=False)

    def _write(self, text: str) -> None:
        pass


SILENT = _Silent()
_current: Progress = SILENT


def current() -> Progress:
    return _current


@contextlib.contextmanager
def use(progress: Progress) -> Iterator[Progress]:
    """Make `progress` the current one for the block (the command line's, around a run)."""
    global _current
    previous, _current = _current, progress
    try:
        yield progress
    finally:
        _current = previous
