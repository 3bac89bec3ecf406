"""Two `fostering run`s on one warehouse: the second waits (saying so) or gives up plainly, never a raw lock error."""

import os
import shutil
import subprocess
import time
from pathlib import Path

from tests.conftest import PROJECT_ROOT
from tests.test_cli import FOSTERING


def _start(landing: Path, warehouse: Path, **env) -> subprocess.Popen:
    return subprocess.Popen(
        [*FOSTERING, "run", "--landing", str(landing), "--warehouse", str(warehouse)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=PROJECT_ROOT, env={**os.environ, **env},
    )


def _wait_until_running(warehouse: Path, first: subprocess.Popen) -> None:
    """Until the first run holds its run lock (its log file exists once it has started the work)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and first.poll() is None:
        if list((warehouse.parent / "logs").glob("run-*.log")):
            return
        time.sleep(0.2)
    raise AssertionError("the first run did not start")


def test_a_second_run_waits_for_the_first_then_completes(tmp_path):
    landing = tmp_path / "landing"
    shutil.copytree(PROJECT_ROOT / "raw" / "sample" / "trafford", landing / "trafford")
    warehouse = tmp_path / "data" / "warehouse.duckdb"
    first = _start(landing, warehouse)
    _wait_until_running(warehouse, first)
    second = _start(landing, warehouse)
    out1, err1 = first.communicate(timeout=600)
    out2, err2 = second.communicate(timeout=600)
    assert first.returncode == 0, err1
    assert second.returncode == 0, err2
    assert "waiting for it to finish" in err2
    assert "already received" in out2 and "Nothing new to publish" in out2
    for text in (err1, err2, out1, out2):
        assert "IOException" not in text and "Could not set lock" not in text


def test_a_second_run_gives_up_with_a_plain_message(tmp_path):
    landing = tmp_path / "landing"
    shutil.copytree(PROJECT_ROOT / "raw" / "sample" / "trafford", landing / "trafford")
    warehouse = tmp_path / "data" / "warehouse.duckdb"
    first = _start(landing, warehouse)
    _wait_until_running(warehouse, first)
    second = _start(landing, warehouse, FOSTERING_RUN_WAIT_SECONDS="1")
    out2, err2 = second.communicate(timeout=120)
    assert second.returncode == 2
    assert "another `fostering run` has been using" in err2 and "try again when it has finished" in err2
    assert "Traceback" not in err2
    out1, err1 = first.communicate(timeout=600)
    assert first.returncode == 0, err1
