"""Progress (issue 15 part 1): a bar on a terminal, plain lines elsewhere, each result as it is known."""

import io
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestration import progress
from orchestration.progress import Progress
from tests.conftest import PROJECT_ROOT


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_plain_lines_in_a_log_at_most_every_few_seconds_with_rate_and_time_left():
    out, clock = io.StringIO(), Clock()
    shown = Progress(out, tty=False, plain_every_s=5, clock=clock)
    with shown.counter("Checking returns", 100) as done:
        for _ in range(10):
            clock.now += 1
            done.advance(5)
    lines = out.getvalue().splitlines()
    assert lines[0] == "Checking returns: 0/100 returns"
    assert lines[1] == "Checking returns: 25/100 returns · 5.0/s · about 15.0s left"  # after 5 s, not at every return
    assert lines[-1] == "Checking returns: 50 returns in 10.0s"
    assert len(lines) == 4 and "\r" not in out.getvalue()


def test_a_bar_redrawn_in_place_on_a_terminal_and_lines_said_above_it():
    out, clock = io.StringIO(), Clock()
    shown = Progress(out, tty=True, clock=clock)
    results = io.StringIO()
    with shown.counter("Checking returns", 4) as done:
        clock.now += 3
        done.advance(2)
        shown.say_to(results, "a.xlsx: accepted")
    text = out.getvalue()
    assert "\r\x1b[K[############............] Checking returns: 2/4 returns · 0.7/s · about 3.0s left" in text
    assert results.getvalue() == "a.xlsx: accepted\n"
    assert text.endswith("\r\x1b[KChecking returns: 2 returns in 3.0s\n")  # the bar cleared, the last line kept


def test_stages_say_when_they_start_finish_and_fail():
    out, clock = io.StringIO(), Clock()
    shown = Progress(out, tty=False, clock=clock)
    with shown.stage("Quality gate"):
        clock.now += 75
    with pytest.raises(RuntimeError), shown.stage("Publishing"):
        clock.now += 2
        raise RuntimeError
    assert out.getvalue().splitlines() == [
        "Quality gate…", "Quality gate: done in 1m15s", "Publishing…", "Publishing: failed after 2.0s"]


def test_nothing_to_count_says_nothing_and_the_default_is_silent():
    out = io.StringIO()
    with Progress(out, tty=False).counter("Checking returns", 0) as done:
        done.advance(0)
    assert out.getvalue() == ""
    assert progress.current() is progress.SILENT
    with progress.use(Progress(out, tty=False)) as mine:
        assert progress.current() is mine
    assert progress.current() is progress.SILENT


def test_a_closed_stream_never_fails_the_work():
    out = io.StringIO()
    shown = Progress(out, tty=False)
    out.close()
    with shown.stage("Ingest"):
        pass


@pytest.mark.slow
def test_validate_prints_each_returns_result_before_it_has_checked_them_all():
    """The first result reaches the terminal while later returns are still being checked."""
    command = [str(Path(sys.executable).parent / "fostering"), "validate", str(PROJECT_ROOT / "raw" / "sample")]
    started = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=PROJECT_ROOT)
    first = proc.stdout.readline()
    first_at = time.monotonic() - started
    assert ": accepted" in first and proc.poll() is None, first  # still working when the first result showed
    rest, err = proc.communicate(timeout=600)
    total = time.monotonic() - started
    assert proc.returncode == 0
    assert first_at < total / 2, (first_at, total)
    assert "return(s) checked" in rest.splitlines()[-1]
    assert err.splitlines()[0].startswith("Checking returns: 0/") and " returns in " in err.splitlines()[-1]
