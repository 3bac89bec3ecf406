"""The landing sensor under a real `dagster-daemon` that is killed (SIGKILL) and started again.

One instance (sqlite storage in a tmp DAGSTER_HOME) outlives both daemons, as it does in a
deployment. FOSTERING_SENSOR_INTERVAL_SECONDS is 2 here, not 30: the sensor ticks every 5 s,
the daemon's own loop.

  daemon 1   sensor on, return A lands: one run for A, run key = A's checksum. Killed.
  daemon 2   its first tick asks for nothing: the cursor in the instance still knows A.
             Return B lands and A is touched (new mtime, same bytes): one run, for B only.
             A byte-identical copy of A lands under another name: the sensor asks for it
             (run key = A's checksum) and the instance finds that run key used: no run.
  at the end exactly 2 runs; the ledger holds A and B once each.

The returns are copied into the landing folder whole (written under a dot-name, which the
sensor ignores, then renamed), as an upload should be: see `_land`.
"""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pytest

from orchestration.returns.landing import checksum
from orchestration.warehouse import connect
from tests.conftest import PROJECT_ROOT
from tests.fixtures.processes import create_storage, dagster_env, session

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
SAMPLE = PROJECT_ROOT / "raw" / "sample" / "trafford"
SENSOR = "landing_sensor"
INTERVAL_S = 2  # the daemon's sensor loop runs every 5 s at most often, so ticks come every 5 s
# Bounds on each wait, for a busy machine; on a quiet one each takes a fraction of this.
START_S = 90  # a process that loads the code location (sensor CLI, daemon and its first tick)
RUN_S = 120  # from a return landing to the end of its run (the run worker and its step process load it too)
TICKS_S = 45  # two ticks
RUN_KEY_TAG = "dagster/run_key"  # the tags Dagster puts on a sensor's runs
SENSOR_TAG = "dagster/sensor_name"
DAGSTER_YAML = """\
storage:
  sqlite:
    base_dir: {home}/storage
telemetry:
  enabled: false
"""


# --- processes ------------------------------------------------------------------------------


class Processes:
    """The processes this test starts, each in a session of its own, so that all they start can be ended."""

    def __init__(self, root: Path, env: dict[str, str]):
        self.root, self.env = root, env
        self.started: list[subprocess.Popen] = []
        self.t0 = time.monotonic()

    def start(self, name: str, *args: str) -> subprocess.Popen:
        with (self.root / f"{name}.out").open("w") as out:  # a file, not a pipe: nothing blocks on a full pipe
            process = subprocess.Popen(
                [*args], stdout=out, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT, env=self.env, start_new_session=True
            )
        process.name = name
        self.started.append(process)
        return process

    def output(self, process: subprocess.Popen) -> str:
        return (self.root / f"{process.name}.out").read_text(errors="replace")[-4000:]

    def kill(self, process: subprocess.Popen, timeout: float = 15.0) -> list[str]:
        """SIGKILL its process group, then whatever of its session is left, one pid at a time; what survives."""
        if process.poll() is None:  # not yet reaped, so the pid (and group id) is still its own
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)
        deadline = time.monotonic() + timeout
        while session(process.pid) and time.monotonic() < deadline:
            for pid in session(process.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
        return [f"{pid} {command}" for pid, command in session(process.pid).items()]

    def end_all(self) -> list[str]:
        return [survivor for process in self.started for survivor in self.kill(process)]


# --- the instance ---------------------------------------------------------------------------


def wait_for(what: str, found: Callable[[], object], timeout: float, procs: Processes, *watched: subprocess.Popen):
    """Poll `found()` every 0.5 s until it returns something true; fail, saying why, after `timeout`
    or as soon as one of the `watched` processes ends.

    Each wait's time is printed: pytest shows the timeline when the test fails.
    """
    started = time.monotonic()
    deadline = started + timeout
    while True:
        value = found()
        if value:
            print(f"{time.monotonic() - procs.t0:5.1f}s {what} (waited {time.monotonic() - started:.1f}s)")
            return value
        for process in watched:
            if process.poll() is not None:
                pytest.fail(f"{process.name} ended (exit {process.returncode}) while waiting for {what}:\n{procs.output(process)}")
        if time.monotonic() > deadline:
            outputs = "\n".join(f"--- {p.name}:\n{procs.output(p)}" for p in watched)
            pytest.fail(f"no {what} after {timeout:.0f}s\n{outputs}")
        time.sleep(0.5)


def sensor_state(instance: dg.DagsterInstance):
    states = [s for s in instance.all_instigator_state() if s.name == SENSOR]
    return states[0] if states else None


def cursor(instance: dg.DagsterInstance) -> dict[str, list]:
    state = sensor_state(instance)
    data = state.instigator_data if state else None
    return json.loads(data.cursor) if data and data.cursor else {}


def ticks(instance: dg.DagsterInstance, after: float) -> list:
    """The sensor's completed ticks that started after `after` (epoch seconds), oldest first."""
    state = sensor_state(instance)
    if state is None:
        return []
    found = instance.get_ticks(state.instigator_origin_id, state.selector_id, after=float(after))
    return sorted((t for t in found if t.is_completed), key=lambda t: t.timestamp)


def runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    return list(reversed(instance.get_runs()))  # oldest first


def finished_run_for(instance: dg.DagsterInstance, digest: str):
    """The run for this checksum once it has ended; fails the test at once if it ended badly."""
    found = instance.get_runs(filters=dg.RunsFilter(tags={RUN_KEY_TAG: digest}))
    for run in found:
        if run.status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED):
            errors = [e.message for e in instance.all_logs(run.run_id) if e.is_error]
            pytest.fail(f"run {run.run_id} for {digest[:12]} ended {run.status.value}: {errors[-5:]}")
        if run.status == dg.DagsterRunStatus.SUCCESS:
            return run
    return None


# --- the returns ----------------------------------------------------------------------------


def _land(source: Path, target: Path) -> Path:
    """Put a return in the landing folder whole: written under a dot-name (ignored by the sensor), then renamed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.parent / f".{target.name}.partial"
    shutil.copyfile(source, partial)
    os.replace(partial, target)
    return target


@contextlib.contextmanager
def running(tmp_path: Path, env: dict[str, str]):
    """Processes started in the block, every one ended after it; a survivor fails the test."""
    processes = Processes(tmp_path, env)
    try:
        yield processes
    finally:
        survivors = processes.end_all()
        assert survivors == [], f"processes left running: {survivors}"


# --- the test -------------------------------------------------------------------------------


@pytest.fixture
def procs(tmp_path):
    home, landing, data = tmp_path / "dagster_home", tmp_path / "landing", tmp_path / "data"
    for folder in (home, landing, data):
        folder.mkdir()
    (home / "dagster.yaml").write_text(DAGSTER_YAML.format(home=home))
    env = dagster_env(home, landing, data, FOSTERING_SENSOR_INTERVAL_SECONDS=str(INTERVAL_S))
    with running(tmp_path, env) as processes:
        yield processes


def test_one_run_per_return_across_a_daemon_restart(procs, monkeypatch):
    landing = Path(procs.env["FOSTERING_LANDING"])
    warehouse = Path(procs.env["FOSTERING_WAREHOUSE"])
    monkeypatch.setenv("DAGSTER_HOME", procs.env["DAGSTER_HOME"])
    daemon_cmd = (str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml")

    with dg.DagsterInstance.get() as instance:
        create_storage(instance)
        # --- daemon 1: the sensor on, return A lands, one run for it --------------------------
        daemon = procs.start("daemon-1", *daemon_cmd)
        switch = procs.start("sensor-start", str(BIN / "dagster"), "sensor", "start", SENSOR, "-w", "workspace.yaml")
        assert switch.wait(timeout=START_S) == 0, procs.output(switch)
        a = _land(SAMPLE / "2021-04.zip", landing / "trafford" / "2021-04.zip")
        digest_a = checksum(a)
        wait_for("finished run for A", lambda: finished_run_for(instance, digest_a), RUN_S, procs, daemon)
        assert [r.tags[RUN_KEY_TAG] for r in runs(instance)] == [digest_a]
        before_kill = cursor(instance)
        assert before_kill[str(a)][2] == digest_a

        # --- SIGKILL the daemon and everything it started, then a new daemon ------------------
        assert procs.kill(daemon) == [], "the first daemon's processes outlived its SIGKILL"
        restarted = time.time()
        daemon = procs.start("daemon-2", *daemon_cmd)

        # Its first tick asks for nothing: the cursor kept in the instance still knows A.
        first = wait_for("first tick of the new daemon", lambda: ticks(instance, after=restarted), START_S, procs, daemon)[0]
        assert first.run_keys == [] and first.run_ids == [], "the new daemon's first tick asked for A again"
        assert cursor(instance) == before_kill

        # B lands and A is touched (new modification time, same bytes): one run, for B only.
        stamp_before = a.stat().st_mtime_ns
        a.touch()
        assert a.stat().st_mtime_ns != stamp_before
        b = _land(SAMPLE / "2021-05.zip", landing / "trafford" / "2021-05.zip")
        digest_b = checksum(b)
        assert digest_b != digest_a
        wait_for("finished run for B", lambda: finished_run_for(instance, digest_b), RUN_S, procs, daemon)
        assert [r.tags[RUN_KEY_TAG] for r in runs(instance)] == [digest_a, digest_b]
        assert all(digest_a not in t.run_keys for t in ticks(instance, after=restarted)), "the touched A was asked for"
        assert cursor(instance)[str(a)] == [a.stat().st_size, a.stat().st_mtime_ns, digest_a]  # re-hashed, same bytes

        # A byte-identical copy of A under another name: asked for with A's run key, no run.
        copied = time.time()
        copy = _land(a, landing / "trafford" / "2021-04 (sent again).zip")
        wait_for("two ticks after the copy of A", lambda: len(ticks(instance, after=copied)) >= 2, TICKS_S, procs, daemon)
        later = ticks(instance, after=copied)
        assert [t.run_keys for t in later if t.run_keys] == [[digest_a]], "the copy was asked for once"
        assert all(t.run_ids == [] for t in later)

        # --- what the instance and the warehouse hold -----------------------------------------
        assert [t.error for t in ticks(instance, after=0.0) if t.is_failure] == []
        final = runs(instance)
        assert len(final) == 2
        assert [(r.tags[RUN_KEY_TAG], r.tags[SENSOR_TAG], r.tags["fostering/checksum"]) for r in final] == [
            (digest_a, SENSOR, digest_a[:12]),
            (digest_b, SENSOR, digest_b[:12]),
        ]
        assert [r.run_config["ops"]["ingest_returns"]["config"]["paths"] for r in final] == [[str(a)], [str(b)]]
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in final)
        seen = cursor(instance)
        assert {path: entry[2] for path, entry in seen.items()} == {
            str(a): digest_a,
            str(copy): digest_a,
            str(b): digest_b,
        }

    with connect(warehouse, read_only=True, wait_s=30) as con:
        ledger = con.execute(
            "SELECT submission_id, source_path, status, is_current FROM ops.submissions ORDER BY source_path"
        ).fetchall()
    assert ledger == [
        (digest_a, "trafford/2021-04.zip", "accepted", True),
        (digest_b, "trafford/2021-05.zip", "accepted", True),
    ]
