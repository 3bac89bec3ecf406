"""`fostering status`, late-return detection and notification (orchestration/status.py, notify.py, late_returns.py)."""

import csv
import datetime as dt
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest
from click.testing import CliRunner

from orchestration import status as status_module
from orchestration.cli import main
from orchestration.late_returns import STATUS_ASSET, build_late_returns_sensor, late_returns_sensor, read_cursor
from orchestration.notify import LogNotifier, notifier_from_settings
from orchestration.resources import WarehouseResource
from orchestration.settings import ConfigurationError
from orchestration.status import StatusUnavailable, late_pairs, newly_late, submission_status
from tests.conftest import PROJECT_ROOT

BIN = Path(sys.executable).parent
FOSTERING = str(BIN / "fostering")
SAMPLE_LAS = ("bolton", "reading")  # one LA in each hub of the sample
REFERENCE_LAS = list(csv.DictReader((PROJECT_ROOT / "dbt_project" / "seeds" / "local_authorities.csv").open(encoding="utf-8")))


def fostering(*args, env=None):
    return subprocess.run(
        [FOSTERING, *map(str, args)], capture_output=True, text=True, cwd=PROJECT_ROOT, env={**os.environ, **(env or {})}
    )


# --- a warehouse built by the pipeline ------------------------------------------------------------


@pytest.fixture(scope="module")
def built_warehouse(tmp_path_factory) -> Path:
    """`fostering run` on two LAs of the bundled sample (about 40 s)."""
    root = tmp_path_factory.mktemp("status_run")
    landing = root / "landing"
    for la in SAMPLE_LAS:
        shutil.copytree(PROJECT_ROOT / "raw" / "sample" / la, landing / la)
    warehouse = root / "wh" / "warehouse.duckdb"
    result = fostering("run", "--landing", landing, "--warehouse", warehouse, "--publish-dir", root / "published")
    assert result.returncode in (0, 1), f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return warehouse


def test_status_frame_from_the_pipeline(built_warehouse):
    frame = submission_status(built_warehouse)
    assert list(frame.columns) == [
        "la_code", "la_name", "hub", "period", "status", "late", "lateness_basis", "due_date",
        "submitted_at", "received_at", "versions", "errors", "warnings",
    ]
    assert sorted(frame["period"].unique()) == ["2023-07", "2023-08", "2023-09"]
    assert len(frame) == 3 * len(REFERENCE_LAS)  # every LA of the reference table, sent or not
    ordered = frame.sort_values(["hub", "la_name", "period"], kind="stable").reset_index(drop=True)
    assert frame.equals(ordered)
    sent = frame[frame["la_name"].isin(["Bolton", "Reading"])]
    assert set(sent["status"]) <= {"accepted", "accepted_with_warnings"} and len(sent) == 6
    assert sent["received_at"].notna().all() and (sent["versions"] >= 1).all()
    others = frame[~frame["la_name"].isin(["Bolton", "Reading"])]
    assert set(others["status"]) == {"missing"} and (others["versions"] == 0).all() and others["received_at"].isna().all()
    # The due date is the 15th of the following month; a missing return long past it is late.
    assert set(frame.loc[frame["period"] == "2023-09", "due_date"]) == {dt.date(2023, 10, 15)}
    assert others["late"].all() and set(others["lateness_basis"]) == {"no_accepted_return"}
    assert len(submission_status(built_warehouse, periods=1)["period"].unique()) == 1


def test_the_bulk_loaded_sample_is_not_late_because_of_the_loading(built_warehouse):
    """Issue 15: the sample's returns (due in 2023) are all received today, in one bulk load.

    The loading day is no evidence of when they were sent: none is judged on `received_at`.
    A return is late only when the LA signed it off after its due date; signed off in time,
    its lateness is unknown (null), never late.
    """
    frame = submission_status(built_warehouse, periods=12)
    sent = frame[frame["status"].isin(["accepted", "accepted_with_warnings"])]
    assert len(sent) > 0
    assert "received" not in set(sent["lateness_basis"])
    assert set(sent["lateness_basis"]) <= {"signed_off", "unknown"}
    for row in sent.itertuples():
        signed_late = pd.notna(row.submitted_at) and row.submitted_at.date() > row.due_date
        if row.lateness_basis == "signed_off":
            assert not pd.isna(row.late) and bool(row.late) and signed_late, row
        else:
            assert pd.isna(row.late) and not signed_late, row
    assert status_module.is_unknown(sent).any()  # the sample signs most returns off in time


def test_status_command_text(built_warehouse):
    result = fostering("status", "--warehouse", built_warehouse)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    hubs = sorted({la["hub"] for la in REFERENCE_LAS})
    assert all(f"\n{hub}\n" in f"\n{out}" for hub in hubs)
    assert out.index("Greater Manchester") < out.index("South East")  # grouped by hub, in order
    header = next(line for line in out.splitlines() if line.strip().startswith("LA"))
    assert header.split() == ["LA", "Period", "Status", "Lateness", "Due", "date", "Received"]
    bolton = [line.split() for line in out.splitlines() if line.strip().startswith("Bolton")]
    assert [row[1] for row in bolton] == ["2023-07", "2023-08", "2023-09"]
    assert all(row[2] == "accepted" for row in bolton)  # "accepted" or "accepted with warnings"
    manchester = [line.split() for line in out.splitlines() if line.strip().startswith("Manchester")]
    assert manchester[-1] == ["Manchester", "2023-09", "missing", "late", "2023-10-15", "-"]
    missing = len(REFERENCE_LAS) - len(SAMPLE_LAS)
    summary = [line for line in out.splitlines() if line[:8] in ("2023-07:", "2023-08:", "2023-09:")]
    assert len(summary) == 3
    assert summary[-1].startswith("2023-09: ") and f"0 rejected, {missing} missing; " in summary[-1]
    records = json.loads(fostering("status", "--warehouse", built_warehouse, "--format", "json").stdout)
    sept = [r for r in records if r["period"] == "2023-09"]
    accepted = sum(r["status"] == "accepted" for r in sept)
    warned = sum(r["status"] == "accepted_with_warnings" for r in sept)
    late = sum(r["late"] is True for r in sept)
    unknown = sum(r["late"] is None for r in sept)
    assert unknown > 0  # the sample is loaded in bulk today: returns signed off in time are of unknown lateness
    assert summary[-1] == (f"2023-09: {accepted} accepted, {warned} with warnings, 0 rejected, {missing} missing; "
                           f"{late} late, {unknown} lateness unknown")


def test_status_command_json(built_warehouse):
    result = fostering("status", "--warehouse", built_warehouse, "--periods", "2", "--format", "json")
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout)
    assert len(records) == 2 * len(REFERENCE_LAS)
    assert {r["period"] for r in records} == {"2023-08", "2023-09"}
    bolton = next(r for r in records if r["la_name"] == "Bolton" and r["period"] == "2023-09")
    assert set(bolton) == {
        "la_code", "la_name", "hub", "period", "status", "late", "lateness_basis", "due_date",
        "submitted_at", "received_at", "versions", "errors", "warnings",
    }
    assert bolton["la_code"] == "E08000001" and bolton["hub"] == "Greater Manchester"
    assert bolton["due_date"] == "2023-10-15" and bolton["late"] in (True, None)  # loaded in bulk: never judged on receipt
    assert bolton["lateness_basis"] in ("signed_off", "unknown") and (bolton["late"] is None) == (bolton["lateness_basis"] == "unknown")
    assert dt.datetime.fromisoformat(bolton["received_at"]) and bolton["versions"] >= 1 and bolton["errors"] == 0
    oldham = next(r for r in records if r["la_name"] == "Oldham" and r["period"] == "2023-09")
    assert oldham["status"] == "missing" and oldham["received_at"] is None and oldham["errors"] is None and oldham["late"] is True
    assert oldham["lateness_basis"] == "no_accepted_return"


def test_status_command_default_warehouse_comes_from_settings(built_warehouse):
    result = fostering("status", "--periods", "1", "--format", "json", env={"FOSTERING_WAREHOUSE": str(built_warehouse)})
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)) == len(REFERENCE_LAS)


# --- a hand-made mart -----------------------------------------------------------------------------

MART_DDL = """
CREATE SCHEMA IF NOT EXISTS marts;
CREATE OR REPLACE TABLE marts.mart_submission_status (
    la_code VARCHAR, la_name VARCHAR, region VARCHAR, hub VARCHAR, period DATE, status VARCHAR,
    submitted_at TIMESTAMP, received_at TIMESTAMP, versions INTEGER, errors INTEGER, warnings INTEGER,
    due_date DATE, late BOOLEAN, lateness_basis VARCHAR
);
"""

# (la_code, la_name, hub, period, status, received_at); a received return is judged on its receipt
# (the pipeline was live when it fell due), unless UNKNOWN lists it (loaded in bulk, signed off in time).
HAND_MADE = [
    ("E08000009", "Trafford", "Greater Manchester", "2023-08-01", "accepted", "2023-09-10 12:00:00"),
    ("E08000009", "Trafford", "Greater Manchester", "2023-09-01", "accepted", "2023-10-12 12:00:00"),
    ("E08000001", "Bolton", "Greater Manchester", "2023-08-01", "accepted", "2023-09-14 09:00:00"),
    ("E08000001", "Bolton", "Greater Manchester", "2023-09-01", "missing", None),
    ("E06000035", "Medway", "South East", "2023-08-01", "accepted_with_warnings", "2023-09-15 23:00:00"),
    ("E06000035", "Medway", "South East", "2023-09-01", "accepted", "2023-10-02 08:00:00"),
]


def build_mart(path: Path, as_of: str, rows=HAND_MADE, unknown=()) -> Path:
    """mart_submission_status as dbt would build it as of `as_of` (marts-v1 rules, due the 15th).

    `unknown`: (la_code, period) pairs loaded in bulk and signed off in time: `late` null.
    """
    as_of_date = dt.date.fromisoformat(as_of)
    with duckdb.connect(str(path)) as con:
        con.execute(MART_DDL)
        for la_code, la_name, hub, period, status, received in rows:
            start = dt.date.fromisoformat(period)
            due = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=15)
            received_at = dt.datetime.fromisoformat(received) if received else None
            late = received_at.date() > due if received_at else as_of_date > due
            basis = "received" if received_at else "no_accepted_return"
            if (la_code, period) in unknown:
                late, basis = None, "unknown"
            con.execute(
                "INSERT INTO marts.mart_submission_status VALUES (?, ?, 'r', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [la_code, la_name, hub, start, status, received_at, received_at, 1 if received else 0,
                 0 if received else None, 0 if received else None, due, late, basis],
            )
    return path


def test_ordering_and_the_latest_periods(tmp_path):
    rows = [*HAND_MADE, ("E08000009", "Trafford", "Greater Manchester", "2023-07-01", "accepted", "2023-08-01 10:00:00")]
    frame = submission_status(build_mart(tmp_path / "w.duckdb", "2023-10-16", rows), periods=2)
    assert list(zip(frame["hub"], frame["la_name"], frame["period"], strict=True)) == [
        ("Greater Manchester", "Bolton", "2023-08"), ("Greater Manchester", "Bolton", "2023-09"),
        ("Greater Manchester", "Trafford", "2023-08"), ("Greater Manchester", "Trafford", "2023-09"),
        ("South East", "Medway", "2023-08"), ("South East", "Medway", "2023-09"),
    ]


def test_a_missing_return_becomes_late_on_the_day_after_its_due_date(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    on_due_date = submission_status(build_mart(warehouse, "2023-10-15"))
    assert late_pairs(on_due_date) == set()
    assert newly_late(set(), on_due_date) == []

    day_after = submission_status(build_mart(warehouse, "2023-10-16"))
    fresh = newly_late(late_pairs(on_due_date), day_after)
    assert [(e["la_code"], e["period"], e["status"], e["due_date"]) for e in fresh] == [
        ("E08000001", "2023-09", "missing", "2023-10-15")
    ]
    assert fresh[0]["la_name"] == "Bolton" and fresh[0]["received_at"] is None
    json.dumps(fresh)  # plain values, ready for a notifier
    assert newly_late(late_pairs(day_after), day_after) == []  # nothing new the second time


def test_text_summary_counts_per_period(tmp_path):
    text = status_module.format_text(submission_status(build_mart(tmp_path / "w.duckdb", "2023-10-16")))
    lines = text.splitlines()
    assert lines[0] == "Greater Manchester" and "South East" in lines
    assert "2023-08: 2 accepted, 1 with warnings, 0 rejected, 0 missing; 0 late" in lines
    assert "2023-09: 2 accepted, 0 with warnings, 0 rejected, 1 missing; 1 late" in lines
    bolton = [line.split() for line in lines if line.strip().startswith("Bolton")]
    assert bolton[-1] == ["Bolton", "2023-09", "missing", "late", "2023-10-15", "-"]
    medway = next(line for line in lines if line.strip().startswith("Medway  ") and line.split()[1] == "2023-08")
    assert "accepted with warnings  on time" in medway and medway.rstrip().endswith("2023-09-15 23:00")


def test_unknown_lateness_is_shown_in_words_and_never_notified(tmp_path):
    """A return loaded in bulk after its due date and signed off in time: `late` null, "lateness unknown"."""
    rows = [*HAND_MADE, ("E08000009", "Trafford", "Greater Manchester", "2023-07-01", "accepted", "2023-12-01 10:00:00")]
    frame = submission_status(build_mart(tmp_path / "w.duckdb", "2023-10-16", rows, unknown={("E08000009", "2023-07-01")}),
                              periods=3)
    trafford = frame[(frame["la_code"] == "E08000009") & (frame["period"] == "2023-07")].iloc[0]
    assert pd.isna(trafford["late"]) and trafford["lateness_basis"] == "unknown"
    assert ("E08000009", "2023-07") not in late_pairs(frame)
    assert [(e["la_code"], e["period"]) for e in newly_late(set(), frame)] == [("E08000001", "2023-09")]
    [record] = [r for r in status_module.records(frame) if r["la_code"] == "E08000009" and r["period"] == "2023-07"]
    assert record["late"] is None and record["lateness_basis"] == "unknown"
    json.dumps(status_module.records(frame))
    lines = status_module.format_text(frame).splitlines()
    row = next(line for line in lines if line.strip().startswith("Trafford") and line.split()[1] == "2023-07")
    assert row.split() == ["Trafford", "2023-07", "accepted", "lateness", "unknown", "2023-08-15", "2023-12-01", "10:00"]
    assert "2023-07: 1 accepted, 0 with warnings, 0 rejected, 0 missing; 0 late, 1 lateness unknown" in lines
    assert "2023-08: 2 accepted, 1 with warnings, 0 rejected, 0 missing; 0 late" in lines


# --- when there is nothing to read, or a run holds the warehouse ------------------------------------


def test_no_warehouse_or_no_mart_says_run_first(tmp_path):
    with pytest.raises(StatusUnavailable, match="run `fostering run` first"):
        submission_status(tmp_path / "absent.duckdb")
    assert not (tmp_path / "absent.duckdb").exists()
    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    with pytest.raises(StatusUnavailable, match="run `fostering run` first"):
        submission_status(empty)
    result = fostering("status", "--warehouse", empty)
    assert result.returncode == 2 and result.stdout == ""
    assert "run `fostering run` first" in result.stderr and "Traceback" not in result.stderr
    assert "Catalog Error" not in result.stderr


@pytest.fixture
def held(tmp_path):
    """Start a process that holds something on the warehouse until it is stopped; yields a starter."""
    started: list[subprocess.Popen] = []

    def start(code: str) -> None:
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=PROJECT_ROOT)
        started.append(proc)
        assert proc.stdout.readline().strip() == "ready"

    yield start
    for proc in started:
        proc.kill()
        proc.wait()


def hold_duckdb_write(path: Path) -> str:
    return f"import duckdb, time; con = duckdb.connect({str(path)!r}); print('ready', flush=True); time.sleep(60)"


def hold_writer_lock(path: Path) -> str:
    return (
        "import time; from pathlib import Path; from orchestration.warehouse import writer_lock\n"
        f"with writer_lock(Path({str(path)!r})):\n    print('ready', flush=True); time.sleep(60)"
    )


def test_a_warehouse_held_by_a_writer_is_retried_then_reported_plainly(tmp_path, held):
    warehouse = build_mart(tmp_path / "w.duckdb", "2023-10-16")
    held(hold_duckdb_write(warehouse))
    started = time.monotonic()
    with pytest.raises(StatusUnavailable) as caught:
        submission_status(warehouse, wait_s=1.5, poll_s=0.1)
    assert time.monotonic() - started >= 1.5  # it retried for the whole wait
    message = str(caught.value)
    assert "being written by a pipeline run" in message and "try again" in message
    assert "IO Error" not in message and "Conflicting lock" not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_a_warehouse_under_the_writer_lock_is_waited_for_then_reported_plainly(tmp_path, held):
    warehouse = build_mart(tmp_path / "w.duckdb", "2023-10-16")
    held(hold_writer_lock(warehouse))
    with pytest.raises(StatusUnavailable, match="being written by a pipeline run"):
        submission_status(warehouse, wait_s=1.0, poll_s=0.1)


def test_status_reads_as_soon_as_the_writer_has_finished(tmp_path):
    warehouse = build_mart(tmp_path / "w.duckdb", "2023-10-16")
    code = f"import duckdb, time; con = duckdb.connect({str(warehouse)!r}); print('ready', flush=True); time.sleep(1.0)"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        assert len(submission_status(warehouse, wait_s=20, poll_s=0.1)) == len(HAND_MADE)
    finally:
        proc.kill()
        proc.wait()


def test_status_command_on_a_busy_warehouse_exits_2_with_the_plain_message(tmp_path, held, monkeypatch):
    warehouse = build_mart(tmp_path / "w.duckdb", "2023-10-16")
    held(hold_duckdb_write(warehouse))
    monkeypatch.setattr(status_module, "DEFAULT_WAIT_S", 1.0)
    result = CliRunner().invoke(main, ["status", "--warehouse", str(warehouse)])
    assert result.exit_code == 2
    assert result.output.startswith("fostering status: the warehouse ") and "being written by a pipeline run" in result.output
    assert "IO Error" not in result.output and "lock on file" not in result.output and "Traceback" not in result.output


# --- notifiers ----------------------------------------------------------------------------------------


class FakeNotifier:
    def __init__(self, fail_for: set | None = None):
        self.events: list[dict] = []
        self.fail_for = set(fail_for or ())

    def notify(self, event: dict) -> None:
        pair = (event["la_code"], event["period"])
        if pair in self.fail_for:
            self.fail_for.discard(pair)  # fails once
            raise ConnectionError("mail server down")
        self.events.append(event)


ENV_NOTIFIER = FakeNotifier()


def make_env_notifier() -> FakeNotifier:
    """The factory FOSTERING_NOTIFIER=tests.test_status:make_env_notifier names."""
    return ENV_NOTIFIER


def test_log_notifier_writes_one_line_per_event(caplog):
    caplog.set_level(logging.INFO, logger="fostering.notify")
    LogNotifier().notify({"la_code": "E08000001", "la_name": "Bolton", "hub": "Greater Manchester", "period": "2023-09",
                          "status": "missing", "due_date": "2023-10-15", "received_at": None})
    [record] = [r for r in caplog.records if r.name == "fostering.notify"]
    assert record.getMessage() == "late return: Bolton (E08000001, Greater Manchester) 2023-09 was due 2023-10-15; status missing"


def test_notifier_from_settings():
    assert isinstance(notifier_from_settings({}), LogNotifier)
    assert isinstance(notifier_from_settings({"FOSTERING_NOTIFIER": "log"}), LogNotifier)
    assert notifier_from_settings({"FOSTERING_NOTIFIER": "tests.test_status:make_env_notifier"}) is ENV_NOTIFIER
    assert isinstance(notifier_from_settings({"FOSTERING_NOTIFIER": "tests.test_status:FakeNotifier"}), FakeNotifier)
    for bad in ("email", "no_such_module_xyz:factory", "tests.test_status:nothing_here", "tests.test_status:BIN"):
        with pytest.raises(ConfigurationError, match="FOSTERING_NOTIFIER"):
            notifier_from_settings({"FOSTERING_NOTIFIER": bad})


# --- the sensor -------------------------------------------------------------------------------------


class SensorHarness:
    """An ephemeral Dagster instance, the warehouse resource, and the cursor carried between evaluations."""

    def __init__(self, sensor, warehouse: Path):
        self.sensor = sensor
        self.instance = dg.DagsterInstance.ephemeral()
        self.resources = {"warehouse": WarehouseResource(path=str(warehouse), data_dir=str(warehouse.parent))}
        self.cursor = None

    def materialise(self) -> None:
        self.instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=STATUS_ASSET))

    def evaluate(self):
        context = dg.build_sensor_context(instance=self.instance, cursor=self.cursor, resources=self.resources)
        result = self.sensor(context)
        if isinstance(result, dg.SensorResult) and result.cursor is not None:
            self.cursor = result.cursor
        return result


def test_sensor_notifies_once_per_newly_late_la(tmp_path):
    warehouse = build_mart(tmp_path / "w.duckdb", "2023-10-15")
    fake = FakeNotifier()
    harness = SensorHarness(build_late_returns_sensor(lambda: fake), warehouse)

    assert isinstance(harness.evaluate(), dg.SkipReason)  # nothing materialised yet
    harness.materialise()
    harness.evaluate()  # as of the due date: nobody late
    assert fake.events == []

    build_mart(warehouse, "2023-10-16")  # the daily rebuild, the day after the due date
    harness.materialise()
    result = harness.evaluate()
    assert [(e["event"], e["la_code"], e["period"]) for e in fake.events] == [("late_return", "E08000001", "2023-09")]
    [observation] = result.asset_events
    assert isinstance(observation, dg.AssetObservation) and observation.asset_key == STATUS_ASSET
    assert observation.metadata["newly_late"].value == 1
    assert read_cursor(harness.cursor)[1] == {("E08000001", "2023-09")}

    # Two more evaluations on the same data: no new materialisation, then a rebuild with the same result.
    assert isinstance(harness.evaluate(), dg.SkipReason)
    harness.materialise()
    again = harness.evaluate()
    assert not again.asset_events
    assert len(fake.events) == 1


def test_sensor_default_notifier_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("FOSTERING_NOTIFIER", "tests.test_status:make_env_notifier")
    ENV_NOTIFIER.events.clear()
    harness = SensorHarness(late_returns_sensor, build_mart(tmp_path / "w.duckdb", "2023-10-16"))
    for _ in range(2):
        harness.materialise()
        harness.evaluate()
    assert [(e["la_code"], e["period"]) for e in ENV_NOTIFIER.events] == [("E08000001", "2023-09")]


def test_sensor_retries_only_a_failed_notification(tmp_path):
    rows = [*HAND_MADE, ("E06000035", "Medway", "South East", "2023-10-01", "missing", None)]
    warehouse = build_mart(tmp_path / "w.duckdb", "2023-11-16", rows)
    fake = FakeNotifier(fail_for={("E06000035", "2023-10")})
    harness = SensorHarness(build_late_returns_sensor(lambda: fake), warehouse)
    harness.materialise()
    harness.evaluate()
    assert [(e["la_code"], e["period"]) for e in fake.events] == [("E08000001", "2023-09")]
    harness.evaluate()  # no new materialisation, but the failed one is tried again
    assert [(e["la_code"], e["period"]) for e in fake.events] == [("E08000001", "2023-09"), ("E06000035", "2023-10")]
    harness.materialise()
    harness.evaluate()
    assert len(fake.events) == 2


def test_sensor_skips_a_busy_warehouse_and_tries_again(tmp_path, held):
    warehouse = build_mart(tmp_path / "w.duckdb", "2023-10-16")
    fake = FakeNotifier()
    harness = SensorHarness(build_late_returns_sensor(lambda: fake, wait_s=0.5), warehouse)
    harness.materialise()
    held(hold_duckdb_write(warehouse))
    result = harness.evaluate()
    assert isinstance(result, dg.SkipReason) and "being written by a pipeline run" in result.skip_message
    assert harness.cursor is None and fake.events == []


def test_sensor_after_the_writer_has_gone(tmp_path):
    warehouse = build_mart(tmp_path / "w.duckdb", "2023-10-16")
    fake = FakeNotifier()
    harness = SensorHarness(build_late_returns_sensor(lambda: fake, wait_s=0.5), warehouse)
    harness.materialise()
    harness.evaluate()
    assert len(fake.events) == 1


def test_sensor_loads_in_a_code_location(tmp_path):
    defs = dg.Definitions(
        sensors=[late_returns_sensor],
        resources={"warehouse": WarehouseResource(path=str(tmp_path / "w.duckdb"), data_dir=str(tmp_path))},
    )
    dg.Definitions.validate_loadable(defs)
    assert defs.resolve_sensor_def("late_returns_sensor") is not None
