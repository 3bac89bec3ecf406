"""A backfill over a range of months, launched as the Dagster UI launches it, runs as one run over that range.

A warehouse is built in-process from two LAs' bundled returns (Reading, and Bolton without its
resubmission). Then a real `dagster-webserver` and `dagster-daemon` run against a tmp DAGSTER_HOME
(sqlite storage) and that warehouse, and a partition backfill of the monthly marts over
2022-01..2022-03 is launched through the webserver's GraphQL API with the mutation the UI sends
(`launchPartitionBackfill`). The daemon's backfill loop must turn it into exactly one run
(`BackfillPolicy.single_run`) tagged with the range, which materialises each mart for exactly those
three months (with the rows and preview metadata), and rebuilds exactly those three months in the
warehouse (`ops.monthly_builds`), leaving every other month as it was.
"""

import json
import shutil
import socket
import urllib.error
import urllib.request
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.execution.backfill import BulkActionStatus
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG, BACKFILL_ID_TAG

from orchestration.pipeline import run_pipeline
from orchestration.settings import load_settings
from orchestration.warehouse import connect
from tests.conftest import PROJECT_ROOT
from tests.fixtures.processes import create_storage, dagster_env
from tests.test_sensor_daemon import BIN, DAGSTER_YAML, running, wait_for

pytestmark = pytest.mark.slow

SAMPLE = PROJECT_ROOT / "raw" / "sample"
MONTHLY_MARTS = ["mart_recruitment", "mart_sufficiency", "mart_sufficiency_by_need", "mart_cost_per_placement",
                 "mart_cost_comparison", "mart_finance", "mart_benchmark"]
FIRST, LAST = "2022-01", "2022-03"
MONTHS = ["2022-01", "2022-02", "2022-03"]
# Bounds on each wait, for a busy machine; on a quiet one each takes a fraction of this.
START_S = 120  # the webserver up and its code location loaded
BACKFILL_S = 300  # from launch to the backfill's end: two or more backfill-daemon ticks (30 s apart) and the run

LAUNCH = """
mutation($p: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $p) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
    ... on InvalidSubsetError { message }
    ... on UnauthorizedError { message }
  }
}
"""
WORKSPACE = """
{ workspaceOrError { __typename ... on Workspace { locationEntries {
    name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(port: int, query: str, variables: dict | None = None) -> dict:
    """POST a query to the webserver's /graphql, as the UI does; its `data`."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.loads(response.read())
    assert not body.get("errors"), body["errors"]
    return body["data"]


def _location_loaded(port: int) -> bool:
    try:
        data = _graphql(port, WORKSPACE)
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False  # not listening yet
    entries = data["workspaceOrError"].get("locationEntries") or []
    for entry in entries:
        error = entry["locationOrLoadError"]
        if error and error["__typename"] == "PythonError":
            pytest.fail(f"the code location {entry['name']} failed to load: {error['message']}")
    return bool(entries) and all(e["loadStatus"] == "LOADED" and e["locationOrLoadError"] for e in entries)


def _builds(warehouse: Path) -> dict:
    with connect(warehouse, read_only=True, wait_s=60) as con:
        return {p.strftime("%Y-%m"): (built_at, run_id) for p, built_at, run_id in
                con.execute("SELECT period, built_at, run_id FROM ops.monthly_builds").fetchall()}


@pytest.fixture
def procs(tmp_path):
    home, landing, data = tmp_path / "dagster_home", tmp_path / "landing", tmp_path / "data"
    home.mkdir()
    (home / "dagster.yaml").write_text(DAGSTER_YAML.format(home=home))
    shutil.copytree(SAMPLE / "reading", landing / "reading")
    shutil.copytree(SAMPLE / "bolton", landing / "bolton", ignore=shutil.ignore_patterns("resubmissions"))
    warehouse = data / "warehouse.duckdb"
    report = run_pipeline(load_settings({"FOSTERING_LANDING": str(landing), "FOSTERING_WAREHOUSE": str(warehouse)}))
    assert report.exit_code == 0, report.text

    env = dagster_env(home, landing, data)
    with running(tmp_path, env) as processes:
        yield processes


def test_a_backfill_launched_from_the_ui_is_one_run_over_its_range(procs, monkeypatch):
    warehouse = Path(procs.env["FOSTERING_WAREHOUSE"])
    monkeypatch.setenv("DAGSTER_HOME", procs.env["DAGSTER_HOME"])
    before = _builds(warehouse)
    assert set(MONTHS) <= set(before), "the first build did not build the months to backfill"

    # the instance's storage is created here, once: two processes creating a new sqlite storage
    # at the same moment race ("table alembic_version already exists")
    with dg.DagsterInstance.get() as instance:
        create_storage(instance)
    port = _free_port()
    webserver = procs.start("webserver", str(BIN / "dagster-webserver"), "-w", "workspace.yaml",
                            "-h", "127.0.0.1", "-p", str(port))
    wait_for("the webserver's code location loaded", lambda: _location_loaded(port), START_S, procs, webserver)
    daemon = procs.start("daemon", str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml")

    # --- the backfill, as the UI's "Materialize" > range of partitions launches it -------------
    params = {"partitionsByAssets": [
        {"assetKey": {"path": ["marts", mart]}, "partitions": {"range": {"start": FIRST, "end": LAST}}}
        for mart in MONTHLY_MARTS
    ]}
    launched = _graphql(port, LAUNCH, {"p": params})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill_id = launched["backfillId"]

    with dg.DagsterInstance.get() as instance:
        def ended():
            backfill = instance.get_backfill(backfill_id)
            return backfill if backfill.status not in (BulkActionStatus.REQUESTED, BulkActionStatus.CANCELING,
                                                       BulkActionStatus.FAILING) else None

        backfill = wait_for("the backfill's end", ended, BACKFILL_S, procs, webserver, daemon)
        runs = instance.get_runs(filters=dg.RunsFilter(tags={BACKFILL_ID_TAG: backfill_id}))
        failed = {r.run_id: [e.message for e in instance.all_logs(r.run_id) if e.is_error][-5:]
                  for r in runs if r.status != dg.DagsterRunStatus.SUCCESS}
        assert backfill.status == BulkActionStatus.COMPLETED_SUCCESS, (backfill.status, backfill.failure_count, failed)

        # --- exactly one run, over exactly the range ------------------------------------------
        assert len(runs) == 1, [(r.run_id, r.tags) for r in runs]
        assert [r.run_id for r in instance.get_runs()] == [runs[0].run_id], "runs other than the backfill's"
        run = runs[0]
        stats = instance.get_run_stats(run.run_id)
        if stats.start_time and stats.end_time:
            print(f"the backfill's run took {stats.end_time - stats.start_time:.1f}s")
        assert run.status == dg.DagsterRunStatus.SUCCESS, failed
        assert run.tags[ASSET_PARTITION_RANGE_START_TAG] == FIRST
        assert run.tags[ASSET_PARTITION_RANGE_END_TAG] == LAST
        assert "dagster/partition" not in run.tags
        assert run.asset_selection == {dg.AssetKey(["marts", m]) for m in MONTHLY_MARTS}

        # --- each mart materialised for exactly those months, with rows and a preview ---------
        records = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
        materialised: dict[str, list[str]] = {}
        for record in records:
            materialisation = record.event_log_entry.asset_materialization
            materialised.setdefault("/".join(materialisation.asset_key.path), []).append(materialisation.partition)
            assert {"rows_built", "preview"} <= set(materialisation.metadata), materialisation.metadata.keys()
        assert {key: sorted(parts) for key, parts in materialised.items()} == {f"marts/{m}": MONTHS for m in MONTHLY_MARTS}
        sufficiency = next(r.event_log_entry.asset_materialization for r in records
                           if r.event_log_entry.asset_materialization.asset_key.path == ["marts", "mart_sufficiency"])
        assert sufficiency.metadata["rows_built"].value > 0
        assert "|" in sufficiency.metadata["preview"].value  # a markdown table, not "(no rows)"

    # --- the warehouse: those three months rebuilt, by that run, and no other -----------------
    after = _builds(warehouse)
    assert set(after) == set(before)
    rebuilt = sorted(month for month in after if after[month][0] != before[month][0])
    assert rebuilt == MONTHS
    assert {after[m][1] for m in MONTHS} == {run.run_id}
    assert {m: after[m] for m in after if m not in MONTHS} == {m: before[m] for m in before if m not in MONTHS}
