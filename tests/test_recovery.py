"""Recovery: a `fostering run` killed with SIGKILL, then run again, ends where a clean run ends.

Each scenario starts the real command on a landing of two LAs' bundled returns, watches
the data folder until the run reaches its point (never the DuckDB file: the run holds it),
kills the process, runs the command again, and compares what is left with a reference:
a clean run on the same landing.

  killed in ingest   some returns stored, others not yet (archive entries appear first)
  killed in dbt      while dbt builds a monthly (incremental) model (its lines in the run log)
  killed in publish  while the publish writes its files (the writer's test-only pause),
                     after a complete publish and with one more return since
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest

from orchestration.publish import writer
from orchestration.publish.writer import read_latest, versions
from orchestration.returns.landing import checksum, discover
from tests.conftest import PROJECT_ROOT
from tests.fixtures.processes import session
from tests.test_cli import FOSTERING

pytestmark = pytest.mark.slow

LAS = ("trafford", "reading")  # 60 returns: 30 ZIPs and 30 workbooks
HELD_BACK = Path("reading") / "2023-09.xlsx"  # the return that arrives after the first publish (publish scenario)
ARCHIVED_BEFORE_KILL = 40  # of 60: returns are checked in batches (of 7 here), so by then several batches are stored, and some are not
PAUSE_AFTER_FILES = 5  # of 17 (8 marts x Parquet and CSV, then the manifest)
# Columns that depend on when a return arrived (mart_submission_status), not on what it holds.
TIME_COLUMNS = {"received_at", "late", "lateness_basis"}
KILLED_SESSIONS: list[int] = []  # what the killed runs leave running is ended after the module
# The ledger without arrival times (the findings report names carry them too).
LEDGER_COLUMNS = (
    "submission_id, source_path, archive_path, form, la_code, la_code_submitted, period, return_version, "
    "contract_version, submitted_at, status, errors, warnings, is_current, superseded_by, placement_rows"
)


# --- running and killing the command ---------------------------------------------------------


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return f"exit {self.returncode}\n--- stdout\n{self.stdout[-3000:]}\n--- stderr\n{self.stderr[-5000:]}"


@dataclass
class Killed:
    pid: int  # also the id of its session: whatever it started stays in that session
    seconds: float  # from its start to the kill
    survivors: list[str]  # "pid command" of its processes still alive a second after the kill


@dataclass
class Workspace:
    """A landing folder and a data folder (warehouse, archive, findings, logs, published) of their own."""

    root: Path

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def warehouse(self) -> Path:
        return self.data / "warehouse.duckdb"

    @property
    def published(self) -> Path:
        return self.data / "published"

    def command(self) -> list[str]:
        return [*FOSTERING, "run", "--landing", str(self.landing), "--warehouse", str(self.warehouse)]

    def run(self, **env: str) -> Run:
        """`fostering run` to completion."""
        done = subprocess.run(
            self.command(), capture_output=True, text=True, cwd=PROJECT_ROOT, env={**os.environ, **env}, timeout=600
        )
        return Run(done.returncode, done.stdout, done.stderr)

    def kill_when(self, reached: Callable[[], bool], timeout: float = 300.0, **env: str) -> Killed:
        """Start `fostering run`; SIGKILL it as soon as `reached()` (polled every 50 ms) is true."""
        out, err = self.root / "killed.stdout", self.root / "killed.stderr"
        started = time.monotonic()
        with out.open("w") as stdout, err.open("w") as stderr:  # files, not pipes: nothing blocks on a full pipe
            process = subprocess.Popen(
                self.command(), stdout=stdout, stderr=stderr, cwd=PROJECT_ROOT,
                env={**os.environ, **env}, start_new_session=True,
            )
        KILLED_SESSIONS.append(process.pid)
        try:
            while not reached():
                assert process.poll() is None, f"the run ended (exit {process.returncode}) before its kill point:\n{err.read_text()[-3000:]}"
                assert time.monotonic() - started < timeout, f"the run did not reach its kill point in {timeout:.0f}s"
                time.sleep(0.05)
            seconds = time.monotonic() - started
        finally:
            if process.poll() is None:  # not yet reaped, so the pid is still this process's
                os.kill(process.pid, signal.SIGKILL)
            process.wait()
        killed = Killed(process.pid, seconds, [])
        assert process.returncode == -signal.SIGKILL, f"exit {process.returncode}: the run ended before the kill"
        time.sleep(1.0)  # a moment for whatever dies with it to die
        killed.survivors = [f"{pid} {command}" for pid, command in session(process.pid).items()]
        return killed


def wait_for_session_to_end(killed: Killed, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while session(killed.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    return not session(killed.pid)


@pytest.fixture(scope="module", autouse=True)
def _end_leftovers_of_killed_runs():
    """After the module, SIGKILL one by one whatever the killed runs left running (these tests started them)."""
    yield
    for sid in KILLED_SESSIONS:
        for pid in session(sid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def run_log(ws: Workspace) -> str:
    return "".join(p.read_text(errors="replace") for p in sorted((ws.data / "logs").glob("run-*.log")))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_sums(folder: Path) -> dict[str, str]:
    """The checksum of every file under `folder` (a publish holds its report's folders too), by relative path."""
    return {str(p.relative_to(folder)): sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def content(path: Path) -> dict[str, bytes]:
    """A return's bytes: the file's, or its CSV files' for a folder."""
    if path.is_dir():
        return {p.name: p.read_bytes() for p in sorted(path.iterdir()) if p.suffix.lower() == ".csv"}
    return {path.name: path.read_bytes()}


# --- what a warehouse holds ------------------------------------------------------------------


def _fingerprint(con: duckdb.DuckDBPyConnection, mart: str) -> tuple[int, str]:
    """Rows and a checksum of a mart's rows, ordered by all its columns but the arrival-time ones."""
    columns = [c for (c,) in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'marts' AND table_name = ? ORDER BY ordinal_position",
        [mart],
    ).fetchall() if c not in TIME_COLUMNS]
    quoted = ", ".join(f'"{c}"' for c in columns)
    rows = con.execute(f'SELECT {quoted} FROM marts."{mart}" ORDER BY ALL').fetchall()
    # Doubles to 12 significant digits: summed in another order (returns stored in another order) their
    # last bits move. Sorted again once rounded, so that noise cannot reorder rows either.
    normal = sorted((tuple(f"{v + 0.0:.12g}" if isinstance(v, float) else v for v in row) for row in rows), key=repr)
    return len(rows), hashlib.sha256(repr(normal).encode()).hexdigest()


def warehouse_state(warehouse: Path) -> dict:
    """The ledger (without arrival times), row counts of every ops and raw table, and each mart's fingerprint."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = [t for (t,) in con.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables WHERE table_schema IN ('ops', 'raw') ORDER BY 1"
        ).fetchall()]
        marts = [t for (t,) in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts' ORDER BY 1"
        ).fetchall()]
        return {
            "ledger": con.execute(f"SELECT {LEDGER_COLUMNS} FROM ops.submissions ORDER BY submission_id").fetchall(),
            "counts": {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables},
            "marts": {m: _fingerprint(con, m) for m in marts},
        }


def ledger(warehouse: Path, columns: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(f"SELECT {columns} FROM ops.submissions ORDER BY submission_id").fetchall()


def assert_recovered(ws: Workspace, rerun: Run, reference: dict) -> None:
    """The rerun went cleanly and left what a clean run leaves."""
    assert rerun.returncode == 0, str(rerun)
    assert "Traceback" not in rerun.stderr and "failed" not in rerun.stderr and "ERROR" not in rerun.stderr, str(rerun)
    assert "Published version" in rerun.stdout or "Nothing new to publish" in rerun.stdout, str(rerun)

    # every return in the landing has exactly one ledger row: none twice, none lost
    returns = discover(ws.landing)[0]
    ids = [sid for (sid,) in ledger(ws.warehouse, "submission_id")]
    assert sorted(ids) == sorted(checksum(p) for p in returns)
    state = warehouse_state(ws.warehouse)
    assert state["ledger"] == reference["ledger"]
    assert state["counts"] == reference["counts"]  # ops.submissions, ops.findings and every raw.* table
    assert state["marts"] == reference["marts"]

    # one archive folder per return, holding the return under one name, byte for byte as it landed
    rows = ledger(ws.warehouse, "submission_id, source_path, archive_path, findings_json, findings_html")
    assert sorted(p.name for p in (ws.data / "archive").iterdir()) == sorted(ids)
    for sid, source, kept, report_json, report_html in rows:
        assert [p.name for p in (ws.data / "archive" / sid).iterdir()] == [Path(kept).name]
        assert content(ws.data / kept) == content(ws.landing / source), source
        # and its findings report, both forms
        assert (ws.data / report_html).is_file(), report_html
        assert json.loads((ws.data / report_json).read_text(encoding="utf-8"))["return"]["checksum"] == sid


# --- fixtures: the landing, the reference and the three kills --------------------------------


@pytest.fixture(scope="module")
def landing_source(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("landing")
    for la in LAS:
        shutil.copytree(PROJECT_ROOT / "raw" / "sample" / la, folder / la)
    return folder


@pytest.fixture(scope="module")
def new_workspace(tmp_path_factory, landing_source) -> Callable[[str], Workspace]:
    def make(name: str) -> Workspace:
        ws = Workspace(tmp_path_factory.mktemp(name))
        shutil.copytree(landing_source, ws.landing)
        return ws

    return make


@dataclass
class Reference:
    ws: Workspace
    state: dict


@pytest.fixture(scope="module")
def reference(new_workspace) -> Reference:
    ws = new_workspace("reference")
    run = ws.run()
    assert run.returncode == 0 and "60 return(s) accepted" in run.stdout, str(run)
    return Reference(ws, warehouse_state(ws.warehouse))


@dataclass
class Scenario:
    ws: Workspace
    killed: Killed
    rerun: Run  # the rerun that is checked (straight after the kill, unless said otherwise)
    seen: dict = field(default_factory=dict)  # what the data folder held when the run was killed


@pytest.fixture(scope="module")
def killed_in_ingest(new_workspace) -> Scenario:
    ws = new_workspace("ingest")
    archive = ws.data / "archive"
    killed = ws.kill_when(lambda: archive.is_dir() and len(list(archive.iterdir())) >= ARCHIVED_BEFORE_KILL)
    seen = {
        "archived": sorted(p.name for p in archive.iterdir()),
        "reports": sorted(p.name for p in (ws.data / "findings").rglob("*.json")),
    }
    return Scenario(ws, killed, ws.run(), seen)


@pytest.fixture(scope="module")
def killed_in_dbt(new_workspace) -> Scenario:
    ws = new_workspace("dbt")
    killed = ws.kill_when(lambda: "START sql incremental model" in run_log(ws))
    published_at_kill = ws.published.exists()
    straight = ws.run()  # as a scheduler's retry would, straight after the kill
    rerun = straight
    if straight.returncode != 0:  # then do what an operator would: wait for what the killed run left running
        assert wait_for_session_to_end(killed, timeout=180), f"still running: {session(killed.pid)}"
        rerun = ws.run()
    return Scenario(ws, killed, rerun, {"published_at_kill": published_at_kill, "straight_rerun": straight})


@pytest.fixture(scope="module")
def killed_in_publish(new_workspace) -> Scenario:
    ws = new_workspace("publish")
    aside = ws.root / HELD_BACK.name
    (ws.landing / HELD_BACK).rename(aside)
    first = ws.run()
    assert first.returncode == 0 and "Published version" in first.stdout, str(first)
    previous = read_latest(ws.published)
    manifest = json.loads((previous / "manifest.json").read_text(encoding="utf-8"))
    files = tree_sums(previous)

    aside.rename(ws.landing / HELD_BACK)  # one more return, so the next publish is a new version
    stderr = ws.root / "killed.stderr"
    killed = ws.kill_when(
        lambda: stderr.exists() and "test-only pause" in stderr.read_text(),
        **{writer.PAUSE_AFTER_FILES_ENV: str(PAUSE_AFTER_FILES), writer.PAUSE_SECONDS_ENV: "600"},
    )
    staging = [p for p in ws.published.iterdir() if p.name.startswith(writer.STAGING_PREFIX)]
    seen = {
        "previous": previous, "previous_manifest": manifest, "previous_files": files,
        "entries": sorted(p.name for p in ws.published.iterdir()),
        "latest_link": os.readlink(ws.published / "latest"),
        "latest_json": json.loads((ws.published / "latest.json").read_text(encoding="utf-8"))["version"],
        "read_latest": read_latest(ws.published),
        "versions": versions(ws.published),
        "files_at_kill": tree_sums(previous),
        "staging": {p.name: sorted(f.name for f in p.iterdir()) for p in staging},
    }
    return Scenario(ws, killed, ws.run(), seen)


# --- killed during ingest --------------------------------------------------------------------


def _stored_by_killed_run(scenario: Scenario) -> list[str]:
    """The returns the killed run stored: they keep its (earlier) arrival time in the ledger."""
    rows = ledger(scenario.ws.warehouse, "submission_id, received_at")
    first = min(received for _, received in rows)
    return [sid for sid, received in rows if received == first]


def test_a_run_killed_during_ingest_recovers_on_the_next_run(killed_in_ingest, reference):
    scenario = killed_in_ingest
    assert ARCHIVED_BEFORE_KILL <= len(scenario.seen["archived"]) < 60
    assert_recovered(scenario.ws, scenario.rerun, reference.state)
    # it was killed half way: some returns were stored, the rest by the rerun
    stored = _stored_by_killed_run(scenario)
    assert 0 < len(stored) < 60, len(stored)
    assert f"{60 - len(stored)} return(s) accepted" in scenario.rerun.stdout
    assert f"{len(stored)} already received" in scenario.rerun.stdout


def test_a_run_killed_during_ingest_leaves_one_findings_report_per_return(killed_in_ingest):
    scenario = killed_in_ingest
    stored = {sid[:16] for sid in _stored_by_killed_run(scenario)}
    checked_not_stored = {Path(name).stem for name in scenario.seen["reports"]} - stored  # reports are named by checksum
    if not checked_not_stored:
        pytest.skip("the kill came when every return checked had also been stored")
    reports = sorted((scenario.ws.data / "findings").rglob("*.json"))
    per_return = Counter(json.loads(p.read_text(encoding="utf-8"))["return"]["checksum"] for p in reports)
    assert len(per_return) == 60, f"reports for {len(per_return)} returns, not 60"
    assert {sid[:12]: n for sid, n in per_return.items() if n != 1} == {}
    assert len(list((scenario.ws.data / "findings").rglob("*.html"))) == 60


# --- killed during the dbt build -------------------------------------------------------------


def test_a_run_killed_during_the_dbt_build_recovers_on_the_next_run(killed_in_dbt, reference):
    assert "START sql incremental model" in run_log(killed_in_dbt.ws)
    assert not killed_in_dbt.seen["published_at_kill"]  # nothing had got as far as publishing
    assert_recovered(killed_in_dbt.ws, killed_in_dbt.rerun, reference.state)
    assert "60 already received" in killed_in_dbt.rerun.stdout  # the ingest had finished before dbt


def test_a_rerun_straight_after_a_kill_during_the_dbt_build_succeeds(killed_in_dbt):
    straight = killed_in_dbt.seen["straight_rerun"]
    assert straight.returncode == 0 and "Could not set lock" not in straight.stderr, str(straight)


# --- killed while publishing -----------------------------------------------------------------


def test_a_run_killed_while_publishing_leaves_latest_on_the_previous_complete_version(killed_in_publish):
    seen = killed_in_publish.seen
    previous = seen["previous"]
    # readers see the previous publish, whole: latest (link and JSON) on it, its files as they were and as its manifest says
    assert seen["latest_link"] == previous.name and seen["latest_json"] == previous.name
    assert seen["read_latest"] == previous
    assert seen["files_at_kill"] == seen["previous_files"]
    for mart in seen["previous_manifest"]["marts"]:
        for entry in mart["files"].values():
            assert seen["files_at_kill"][entry["path"]] == entry["sha256"], entry["path"]
    # the killed publish is visible only as a .staging-* folder, half written and without a manifest
    assert seen["versions"] == [previous.name]
    assert [n for n in seen["entries"] if n.startswith(writer.STAGING_PREFIX)] == list(seen["staging"])
    assert set(seen["entries"]) - set(seen["staging"]) == {previous.name, "latest", "latest.json", writer.LOCK_NAME}
    [files] = seen["staging"].values()
    assert len(files) == PAUSE_AFTER_FILES and "manifest.json" not in files


def test_a_run_killed_while_publishing_recovers_on_the_next_run(killed_in_publish, reference):
    ws, seen = killed_in_publish.ws, killed_in_publish.seen
    assert_recovered(ws, killed_in_publish.rerun, reference.state)
    assert "Published version" in killed_in_publish.rerun.stdout
    latest = read_latest(ws.published)
    assert latest is not None and latest != seen["previous"] and os.readlink(ws.published / "latest") == latest.name
    assert versions(ws.published) == [seen["previous"].name, latest.name]
    assert not [p for p in ws.published.iterdir() if p.name.startswith(writer.STAGING_PREFIX)]
    # the new latest is complete: every file its manifest lists, as the manifest says, for all 60 returns
    manifest = json.loads((latest / "manifest.json").read_text(encoding="utf-8"))
    listed = {entry["path"]: entry["sha256"] for mart in manifest["marts"] for entry in mart["files"].values()}
    assert {p.name for p in latest.iterdir()} == {*listed, "manifest.json", "data_dictionary.csv", "report"}  # the report is built into it
    assert (latest / "report" / "index.html").is_file()
    assert {name: sha256(latest / name) for name in listed} == listed
    assert len(manifest["returns"]) == 60
    # and publishes what the clean run published: the same rows, the same cells withheld (not byte for byte:
    # returns stored in another order sum their doubles in another order, which moves the last bits)
    clean = json.loads((read_latest(reference.ws.published) / "manifest.json").read_text(encoding="utf-8"))
    assert {m["name"]: m["rows"] for m in manifest["marts"]} == {m["name"]: m["rows"] for m in clean["marts"]}
    assert manifest["disclosure"]["withheld_cells"] == clean["disclosure"]["withheld_cells"]
    assert manifest["returns"] == clean["returns"]


def test_an_unchanged_publish_after_a_killed_one_removes_its_staging_folder(reference, tmp_path):
    """A rerun with nothing new (the publish step of `fostering run`) must still clear what a killed publish left."""
    published = tmp_path / "published"
    shutil.copytree(reference.ws.published, published, symlinks=True)
    script = (
        "import sys; from pathlib import Path; from orchestration.publish.writer import publish; "
        "publish(Path(sys.argv[1]), Path(sys.argv[2]), keep=5, threshold=5, skip_unchanged=True)"
    )
    env = {**os.environ, writer.PAUSE_AFTER_FILES_ENV: "3", writer.PAUSE_SECONDS_ENV: "600"}
    child = subprocess.Popen([sys.executable, "-c", script, str(reference.ws.warehouse), str(published)],
                             cwd=PROJECT_ROOT, env=env, stderr=subprocess.PIPE, text=True)
    try:
        paused = any("test-only pause" in line for line in child.stderr)  # stops reading at the pause
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stderr.close()
    staging = [p for p in published.iterdir() if p.name.startswith(writer.STAGING_PREFIX)]
    if not (paused and staging):  # not an AssertionError: a broken set-up must not pass for the known bug
        pytest.fail(f"the publish was not killed half way (paused: {paused}, staging: {staging})")

    again = writer.publish(reference.ws.warehouse, published, keep=5, threshold=5, skip_unchanged=True)
    assert again.unchanged and read_latest(published) == (published / again.version).resolve()
    assert not [p.name for p in published.iterdir() if p.name.startswith(writer.STAGING_PREFIX)]


# --- what a killed run leaves running --------------------------------------------------------


@pytest.mark.parametrize("scenario", [
    "killed_in_ingest",
    pytest.param("killed_in_dbt", marks=pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
        "KNOWN GAP: the `dbt build` child outlives a SIGKILLed run for a few seconds (dagster-dbt starts it; nothing "
        "makes it die with its parent). A rerun no longer fails on it: warehouse.connect waits for DuckDB's file lock"
    ))),
    "killed_in_publish",
])
def test_nothing_of_a_killed_run_keeps_running(scenario, request):
    killed = request.getfixturevalue(scenario).killed
    assert killed.survivors == []
