"""One Dagster history (issue 15 part 2): `fostering run` keeps its runs in the data folder's own
instance, which `fostering dev` (the UI, the sensors) opens too; and a run killed mid-step
cannot leave the warehouse pool blocked for the next one."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster as dg
import pytest

from orchestration.checks import CHECK_NAME
from orchestration.instance import COMMAND_LINE, INSTANCE_YAML, LAUNCHED_BY_TAG, close_abandoned_runs, data_folder_instance, prepare_home
from orchestration.settings import load_settings
from tests.conftest import PROJECT_ROOT

FOSTERING = str(Path(sys.executable).parent / "fostering")
MART = dg.AssetKey(["marts", "mart_sufficiency"])


def _settings(root: Path):
    return load_settings({"FOSTERING_DATA_DIR": str(root)})


@pytest.fixture(autouse=True)
def _no_operator_instance(monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)


def test_the_instance_lives_in_the_data_folder_with_telemetry_prompts_and_pool_settled(tmp_path):
    home = prepare_home(_settings(tmp_path / "data"))
    assert home == (tmp_path / "data" / "dagster").resolve()
    with data_folder_instance(_settings(tmp_path / "data")) as instance:
        assert not instance.telemetry_enabled and not instance.nux_enabled
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
        assert type(instance.event_log_storage).__name__ == "ConsolidatedSqliteEventLogStorage"
        assert Path(instance.root_directory) == home


def test_a_moved_data_folder_gets_its_yaml_rewritten_and_an_operators_own_is_left_alone(tmp_path, monkeypatch):
    first = prepare_home(_settings(tmp_path / "a"))
    (tmp_path / "a").rename(tmp_path / "b")
    moved = prepare_home(_settings(tmp_path / "b"))
    assert str(tmp_path / "b" / "dagster" / "history") in (moved / "dagster.yaml").read_text()
    assert first != moved
    own = tmp_path / "operator"
    own.mkdir()
    (own / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(own))
    assert prepare_home(_settings(tmp_path / "b")) == own.resolve()
    assert (own / "dagster.yaml").read_text() == "telemetry:\n  enabled: false\n"
    assert INSTANCE_YAML.splitlines()[0] not in (own / "dagster.yaml").read_text()


def test_a_run_the_command_line_left_started_is_failed_and_its_pool_slot_freed(tmp_path):
    with data_folder_instance(_settings(tmp_path / "data")) as instance:
        ours = instance.add_run(dg.DagsterRun(job_name="__ephemeral_asset_job__", run_id="a" * 8 + "-0000-0000-0000-" + "0" * 12,
                                              status=dg.DagsterRunStatus.STARTED, tags={LAUNCHED_BY_TAG: COMMAND_LINE}))
        daemons = instance.add_run(dg.DagsterRun(job_name="fostering_job", run_id="b" * 8 + "-0000-0000-0000-" + "0" * 12,
                                                 status=dg.DagsterRunStatus.STARTED))
        instance.event_log_storage.set_concurrency_slots("fostering_warehouse", 1)
        claim = instance.event_log_storage.claim_concurrency_slot("fostering_warehouse", ours.run_id, "step")
        assert claim.is_claimed
        assert close_abandoned_runs(instance) == [ours.run_id]
        assert instance.get_run_by_id(ours.run_id).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(daemons.run_id).status == dg.DagsterRunStatus.STARTED  # the daemon's: never touched
        assert instance.event_log_storage.claim_concurrency_slot("fostering_warehouse", "next-run", "step").is_claimed
        assert close_abandoned_runs(instance) == []


@pytest.fixture(scope="module")
def run_on_the_sample(tmp_path_factory):
    """`fostering run` on two of the sample's LAs' returns, as a user types it."""
    root = tmp_path_factory.mktemp("history")
    landing = root / "landing"
    landing.mkdir()
    for la in sorted((PROJECT_ROOT / "raw" / "sample").iterdir())[:2]:
        if la.is_dir():
            subprocess.run(["cp", "-r", str(la), str(landing / la.name)], check=True)
    env = {**os.environ, "FOSTERING_DATA_DIR": str(root / "data"), "FOSTERING_LANDING": str(landing)}
    env.pop("DAGSTER_HOME", None)
    result = subprocess.run([FOSTERING, "run"], capture_output=True, text=True, env=env, cwd=PROJECT_ROOT)
    assert result.returncode == 0, result.stderr
    return root, result, env


@pytest.mark.slow
def test_fostering_run_shows_progress_and_its_runs_are_in_the_data_folders_instance(run_on_the_sample):
    root, result, _ = run_on_the_sample
    err = result.stderr
    for said in ("Dagster instance", "Checking and storing new returns: ", " returns in ", "dbt: ", "models and tests done in",
                 "Quality gate: 16 expectation suites: done in", "Publishing the marts and the report: done in"):
        assert said in err, (said, err)
    assert "\r" not in err  # not a terminal: plain lines, never a redrawn bar
    with dg.DagsterInstance.from_config(str(root / "data" / "dagster")) as instance:
        runs = instance.get_runs(dg.RunsFilter(tags={LAUNCHED_BY_TAG: COMMAND_LINE}))
        assert len(runs) == 2 and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)  # ingest; dbt, gate, publish
        latest = instance.get_latest_materialization_event(MART)
        assert latest is not None and latest.dagster_event.partition is not None  # a monthly partition, as the UI shows it
        checks = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(dg.AssetKey(["marts", "mart_submission_status"]), CHECK_NAME), limit=5)
        assert checks, "the quality gate's check on the mart is in the instance"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/graphql", data=json.dumps({"query": query}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["data"]


@pytest.mark.slow
def test_the_ui_started_by_fostering_dev_shows_the_command_lines_runs(run_on_the_sample):
    root, _, env = run_on_the_sample
    port = _free_port()
    server = subprocess.Popen([FOSTERING, "dev", "--port", str(port)], env=env, cwd=PROJECT_ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                data = _graphql(port, '{ assetOrError(assetKey: {path: ["marts", "mart_sufficiency"]}) '
                                      "{ ... on Asset { assetMaterializations(limit: 1) { partition runId } } } "
                                      "shouldShowNux }")
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "the UI did not start"
                time.sleep(1)
        materialised = data["assetOrError"]["assetMaterializations"]
        assert materialised and materialised[0]["partition"], data
        assert data["shouldShowNux"] is False  # no "join the community" box over the first page
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/assets", timeout=30) as page:
            assert page.status == 200
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=60)
