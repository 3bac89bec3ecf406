"""Production configuration: deploy/dagster.yaml on a real PostgreSQL server, with the daemon.

The test starts its own PostgreSQL 16 (the binaries in the `pgserver` wheel, a
dev dependency) on 127.0.0.1 and a free port, in a temporary folder, with no
Unix socket and password authentication; as the user `nobody` when the tests
run as root, since PostgreSQL refuses to run as root. It copies
deploy/dagster.yaml unchanged into a temporary DAGSTER_HOME and sets only
environment variables, so it proves the example file itself.

Then, in subprocesses with their own environment, it does what an operator
does: turn the landing sensor on with `dagster sensor start -w workspace.yaml`
and start `dagster-daemon run -w workspace.yaml`, with two returns in the
landing folder. The daemon's sensor asks for one `ingest_job` run per return,
the queued run coordinator launches them through the code location, and their
ingest steps take turns on the "fostering_warehouse" pool. Everything is then
read back from PostgreSQL itself and from the warehouse.
"""

import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from importlib.util import find_spec
from pathlib import Path

import duckdb
import psycopg2
import pytest

from orchestration.returns.landing import checksum

PROJECT_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_YAML = PROJECT_ROOT / "deploy" / "dagster.yaml"
BIN = Path(sys.executable).parent
PGSERVER = Path(find_spec("pgserver").origin).parent  # site-packages/pgserver: pginstall/{bin,lib,share}
SAMPLE_RETURNS = [PROJECT_ROOT / "raw" / "sample" / "trafford" / name for name in ("2021-04.zip", "2021-05.zip")]
RUNS_TIMEOUT_S = 150


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalPostgres:
    """A throwaway PostgreSQL cluster in `folder`: loopback TCP only, no Unix socket, passwords required."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.data = folder / "data"
        self.port = _free_port()
        self.password = secrets.token_urlsafe(16)
        self.bin = PGSERVER / "pginstall" / "bin"
        self.run_as: dict = {}
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            nobody = pwd.getpwnam("nobody")
            self.run_as = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
            os.chown(folder, nobody.pw_uid, nobody.pw_gid)
            if not self._runs_as_nobody():
                self.bin = self._copy_binaries()

    def _runs_as_nobody(self) -> bool:
        """Whether `nobody` can run the wheel's binaries where they are (not inside a 0700 folder, as `mktemp -d` makes)."""
        try:
            return self._call("postgres", "--version", check=False).returncode == 0
        except PermissionError:  # the exec itself refused: a folder on the way is closed to `nobody`
            return False

    def _copy_binaries(self) -> Path:
        """The virtualenv is where `nobody` cannot read it: use a copy, keeping the wheel's relative layout."""
        site = self.folder / "site"
        shutil.copytree(PGSERVER / "pginstall", site / "pgserver" / "pginstall", ignore=shutil.ignore_patterns("include"))
        shutil.copytree(PGSERVER.parent / "pgserver.libs", site / "pgserver.libs")  # libpq, found as $ORIGIN/../../../pgserver.libs
        os.chmod(site, 0o755)
        return site / "pgserver" / "pginstall" / "bin"

    def _call(self, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        # Output to a file, not a pipe: the server started by pg_ctl would hold a pipe open.
        with (self.folder / "commands.log").open("a") as log:
            done = subprocess.run(
                [str(self.bin / program), *args], cwd=self.folder, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                env={"PATH": os.environ.get("PATH", ""), "LC_ALL": "C", "HOME": str(self.folder)}, timeout=60, **self.run_as,
            )
        if check and done.returncode != 0:
            logs = [p.read_text(errors="replace")[-3000:] for p in (self.folder / "commands.log", self.folder / "server.log") if p.exists()]
            pytest.fail(f"{program} {' '.join(args)} failed:\n" + "\n".join(logs))
        return done

    def start(self) -> None:
        pwfile = self.folder / "superuser-password"
        pwfile.write_text(self.password + "\n")
        if self.run_as:
            os.chown(pwfile, self.run_as["user"], self.run_as["group"])
        self._call("initdb", "-D", str(self.data), "-U", "postgres", f"--pwfile={pwfile}", "--auth=scram-sha-256",
                   "-E", "UTF8", "--no-instructions")
        pwfile.unlink()
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(f"listen_addresses = '127.0.0.1'\nport = {self.port}\nunix_socket_directories = ''\n"
                       "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")  # throwaway data: speed over safety
        self._call("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "server.log"), "-w", "-t", "30", "start")

    def stop(self) -> None:
        pidfile = self.data / "postmaster.pid"
        if pidfile.exists() and self._call("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "20", "stop", check=False).returncode:
            os.kill(int(pidfile.read_text().split()[0]), signal.SIGKILL)

    def connect(self, user: str = "postgres", password: str | None = None, dbname: str = "postgres"):
        return psycopg2.connect(host="127.0.0.1", port=self.port, user=user, password=password or self.password, dbname=dbname)


@pytest.fixture
def postgres():
    # Not under tmp_path: `nobody` cannot enter pytest's folder, which only its owner may open.
    folder = Path(tempfile.mkdtemp(prefix="fostering-pg-"))
    server = LocalPostgres(folder)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _dagster_database(server: LocalPostgres) -> dict[str, str]:
    """An ordinary role owning its own database, as a DBA would provide it: Dagster needs no superuser."""
    password = secrets.token_urlsafe(16)
    with closing(server.connect()) as con:
        con.autocommit = True
        with con.cursor() as cur:
            cur.execute("CREATE ROLE fostering_dagster LOGIN PASSWORD %s", (password,))
            cur.execute("CREATE DATABASE dagster OWNER fostering_dagster")
    return {
        "DAGSTER_PG_HOST": "127.0.0.1",
        "DAGSTER_PG_PORT": str(server.port),
        "DAGSTER_PG_USER": "fostering_dagster",
        "DAGSTER_PG_PASSWORD": password,
        "DAGSTER_PG_DB": "dagster",
    }


def _environment(tmp_path: Path, pg_env: dict[str, str]) -> dict[str, str]:
    """What a deployment sets: the example dagster.yaml as shipped, the database, and the FOSTERING_* settings."""
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(EXAMPLE_YAML, dagster_home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "FOSTERING_"))}
    return {
        **env,
        **pg_env,
        "DAGSTER_HOME": str(dagster_home),
        "FOSTERING_ENV": "production",
        "FOSTERING_PSEUDONYM_KEY": secrets.token_hex(32),
        "FOSTERING_WAREHOUSE": str(tmp_path / "data" / "warehouse.duckdb"),
        "FOSTERING_LANDING": str(tmp_path / "landing"),
        "GX_ANALYTICS_ENABLED": "False",
    }


def _query(con, sql: str, *params) -> list[tuple]:
    with con.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def _has_exited(process: subprocess.Popen) -> bool:
    """Without reaping it: until `wait()`, its pid, and so its process group id, cannot be reused."""
    return os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def _wait_for_runs(con, count: int, daemon: subprocess.Popen, daemon_log: Path) -> list[tuple]:
    """The runs, oldest first, once `count` of them have finished (or one did not succeed)."""
    deadline = time.monotonic() + RUNS_TIMEOUT_S
    runs: list[tuple] = []
    while time.monotonic() < deadline and not _has_exited(daemon):
        runs = _query(con, "SELECT run_id, pipeline_name, status FROM runs ORDER BY create_timestamp")
        finished = [r for r in runs if r[2] in ("SUCCESS", "FAILURE", "CANCELED")]
        if len(finished) >= count or any(r[2] != "SUCCESS" for r in finished):
            return runs
        time.sleep(0.5)
    why = "the daemon exited" if _has_exited(daemon) else f"not after {RUNS_TIMEOUT_S}s"
    pytest.fail(f"{count} finished runs expected, {why}: {runs}\n--- daemon log ---\n{daemon_log.read_text()[-6000:]}")


def _stop(daemon: subprocess.Popen) -> None:
    """SIGTERM to the daemon, which stops its code server; then whatever is left of its process group is killed."""
    if not _has_exited(daemon):
        daemon.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not _has_exited(daemon):
            time.sleep(0.2)
    try:
        os.killpg(daemon.pid, signal.SIGKILL)  # the daemon's own session (start_new_session), not yet reaped
    except ProcessLookupError:
        pass
    daemon.wait()


def test_example_instance_on_postgres_runs_the_ingest_job_with_the_daemon(tmp_path, postgres):
    env = _environment(tmp_path, _dagster_database(postgres))
    landing = Path(env["FOSTERING_LANDING"]) / "trafford"
    landing.mkdir(parents=True)
    for source in SAMPLE_RETURNS:
        shutil.copy(source, landing / source.name)

    # The operator turns the sensor on (this also creates Dagster's tables in PostgreSQL), then starts the daemon.
    started = subprocess.run(
        [str(BIN / "dagster"), "sensor", "start", "landing_sensor", "-w", "workspace.yaml"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert started.returncode == 0 and "Started sensor landing_sensor" in started.stdout, started.stdout + started.stderr

    daemon_log = tmp_path / "daemon.log"
    with daemon_log.open("w") as log, closing(postgres.connect(env["DAGSTER_PG_USER"], env["DAGSTER_PG_PASSWORD"], "dagster")) as db:
        db.autocommit = True
        daemon = subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"],
            cwd=PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        try:
            runs = _wait_for_runs(db, len(SAMPLE_RETURNS), daemon, daemon_log)
        finally:
            _stop(daemon)

        # Run storage: one run per return, asked for by the sensor with the return's checksum as run key, all successful.
        assert [(name, status) for _, name, status in runs] == [("ingest_job", "SUCCESS")] * 2, daemon_log.read_text()[-6000:]
        run_ids = [run_id for run_id, _, _ in runs]
        tags = {(run_id, key): value for run_id, key, value in _query(db, "SELECT run_id, key, value FROM run_tags")}
        assert {tags[(r, "dagster/sensor_name")] for r in run_ids} == {"landing_sensor"}
        assert {tags[(r, "dagster/run_key")] for r in run_ids} == {checksum(p) for p in SAMPLE_RETURNS}

        # Event log storage: each run went through the queue (QueuedRunCoordinator) and materialised the ledger
        # and the raw tables.
        enqueued = _query(db, "SELECT run_id FROM event_logs WHERE dagster_event_type = 'PIPELINE_ENQUEUED'")
        assert sorted(r for (r,) in enqueued) == sorted(run_ids)
        for run_id in run_ids:
            keys = {tuple(json.loads(k)) for (k,) in _query(
                db, "SELECT asset_key FROM event_logs WHERE run_id = %s AND dagster_event_type = 'ASSET_MATERIALIZATION'", run_id)}
            assert {("ops", "submissions"), ("raw", "placements"), ("raw", "households")} <= keys, keys

        # The pool from dagster.yaml (default_limit 1), kept in the event log storage: the two ingest steps took
        # turns, and no slot is still held.
        assert _query(db, 'SELECT concurrency_key, "limit" FROM concurrency_limits') == [("fostering_warehouse", 1)]
        assert _query(db, "SELECT count(*) FROM concurrency_slots WHERE run_id IS NOT NULL") == [(0,)]
        steps = sorted(_query(db, """
            SELECT min(timestamp) FILTER (WHERE dagster_event_type = 'STEP_START'),
                   min(timestamp) FILTER (WHERE dagster_event_type = 'STEP_SUCCESS')
            FROM event_logs WHERE step_key = 'ingest_returns' AND run_id = ANY(%s) GROUP BY run_id""", run_ids))
        assert len(steps) == 2 and steps[0][1] <= steps[1][0], steps

        # Schedule storage: the sensor is on, its cursor holds both returns, and its tick that asked for the runs is kept.
        sensors = _query(db, "SELECT status, job_body FROM jobs WHERE job_type = 'SENSOR'")
        assert [status for status, _ in sensors] == ["RUNNING"]
        body = json.loads(sensors[0][1])
        assert body["origin"]["job_name"] == "landing_sensor"
        assert set(json.loads(body["job_specific_data"]["cursor"])) == {str(landing / p.name) for p in SAMPLE_RETURNS}
        ticks = [json.loads(b) for (b,) in _query(db, "SELECT tick_body FROM job_ticks WHERE type = 'SENSOR' AND status = 'SUCCESS'")]
        assert sorted(r for tick in ticks for r in tick["run_ids"]) == sorted(run_ids)

        # The daemon worked against PostgreSQL: sensors, scheduler, run queue and run monitoring all beat.
        beats = {t for (t,) in _query(db, "SELECT daemon_type FROM daemon_heartbeats")}
        assert {"SENSOR", "SCHEDULER", "QUEUED_RUN_COORDINATOR", "MONITORING"} <= beats, beats

    # Nothing fell back to SQLite in DAGSTER_HOME.
    assert not list(Path(env["DAGSTER_HOME"]).rglob("*.db"))

    # And the warehouse has both returns, accepted under the production key.
    with duckdb.connect(env["FOSTERING_WAREHOUSE"], read_only=True) as con:
        rows = con.execute("SELECT la_code, strftime(period, '%Y-%m'), status, is_current FROM ops.submissions ORDER BY period").fetchall()
    assert rows == [("E08000009", "2021-04", "accepted", True), ("E08000009", "2021-05", "accepted", True)]
