"""The quality gate in front of the publish, through Dagster and the `fostering` command.

A warehouse is built once from two LAs' bundled returns; each test copies it,
damages one mart the way real bugs do, and re-runs the gate and the publish
(without dbt, which would rebuild the damage away).
"""

import json
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.assets.dbt import fostering_dbt_models, fostering_dbt_monthly
from orchestration.assets.publish import published_marts
from orchestration.checks import quality_gate
from orchestration.resources import default_resources
from orchestration.settings import load_settings
from tests.conftest import PROJECT_ROOT
from tests.test_cli import fostering

MARTS = {
    "mart_recruitment", "mart_sufficiency", "mart_sufficiency_by_need", "mart_cost_per_placement",
    "mart_cost_comparison", "mart_finance", "mart_benchmark", "mart_submission_status",
}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("gate")
    for la in ("trafford", "reading"):
        shutil.copytree(PROJECT_ROOT / "raw" / "sample" / la, root / "landing" / la)
    result = fostering("run", "--landing", root / "landing", "--warehouse", root / "data" / "warehouse.duckdb")
    assert result.returncode == 0, result.stdout + result.stderr
    return root, result.stdout


@pytest.fixture
def copy(built, tmp_path):
    root, _ = built
    shutil.copytree(root, tmp_path / "copy", symlinks=True)
    return tmp_path / "copy"


def _settings(root: Path):
    return load_settings({"FOSTERING_WAREHOUSE": str(root / "data" / "warehouse.duckdb"), "FOSTERING_LANDING": str(root / "landing")})


def _gate_and_publish(root: Path):
    selection = dg.AssetSelection.assets(["publish", "published_marts"]) | dg.AssetSelection.checks(quality_gate)
    return dg.materialize(
        [fostering_dbt_models, fostering_dbt_monthly, quality_gate, published_marts],
        selection=selection,
        resources=default_resources(_settings(root)),
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
    )


def _damage(root: Path, sql: str):
    with duckdb.connect(str(root / "data" / "warehouse.duckdb")) as con:
        con.execute(sql)


def _latest(root: Path) -> str:
    return (root / "data" / "published" / "latest").resolve().name


def test_the_sample_passes_the_gate_and_publishes_every_mart(built):
    root, stdout = built
    assert "0 blocking failure(s)" in stdout and "Published version" in stdout
    latest = root / "data" / "published" / "latest"
    manifest = json.loads((latest / "manifest.json").read_text())
    assert {m["name"] for m in manifest["marts"]} == MARTS
    for mart in MARTS:
        assert (latest / f"{mart}.parquet").exists() and (latest / f"{mart}.csv").exists()
    assert manifest["checks"] and all(s["errors"] == 0 for s in manifest["checks"])
    # with its report, built into the version before latest moved to it
    assert (latest / "report" / "index.html").exists() and f"Report: {latest.resolve()}/report/index.html" in stdout


@pytest.mark.parametrize(
    "damage",
    [
        "INSERT INTO marts.mart_sufficiency SELECT * FROM marts.mart_sufficiency LIMIT 1",  # duplicated grain row
        "UPDATE marts.mart_sufficiency SET inhouse_fostering_share = 1.2 WHERE period = (SELECT max(period) FROM marts.mart_sufficiency)",
        "UPDATE marts.mart_cost_comparison SET la_code = 'E99999999' WHERE period = (SELECT min(period) FROM marts.mart_cost_comparison)",
    ],
    ids=["duplicated-grain", "rate-above-1", "orphan-la-code"],
)
def test_a_corrupted_mart_blocks_the_publish_and_keeps_the_previous_one(copy, damage):
    before = _latest(copy)
    _damage(copy, damage)
    result = _gate_and_publish(copy)
    assert not result.success
    failed = {e.asset_key.path[-1]: e.severity for e in result.get_asset_check_evaluations() if not e.passed}
    assert dg.AssetCheckSeverity.ERROR in failed.values()
    assert not [e for e in result.get_asset_materialization_events() if e.asset_key.path == ["publish", "published_marts"]]
    assert _latest(copy) == before
    gate = json.loads((copy / "data" / "quality" / "latest.json").read_text())
    assert any(s["errors"] for s in gate["suites"])


def test_a_warning_only_problem_publishes_and_is_reported_to_the_la(copy):
    before = _latest(copy)
    # Trafford's stock and flows now disagree in one month: a warning, not a block
    _damage(
        copy,
        "UPDATE marts.mart_recruitment SET household_stock_residual = -2, approved_households = 89 "
        "WHERE la_code = 'E08000009' AND carer_type = 'mainstream' AND period = DATE '2021-09-01'",
    )
    result = _gate_and_publish(copy)
    assert result.success
    assert _latest(copy) != before
    warned = [e for e in result.get_asset_check_evaluations() if e.asset_key.path == ["marts", "mart_recruitment"]]
    assert warned and not warned[0].passed and warned[0].severity == dg.AssetCheckSeverity.WARN
    with duckdb.connect(str(copy / "data" / "warehouse.duckdb"), read_only=True) as con:
        report = con.execute(
            "SELECT findings_json FROM ops.submissions WHERE is_current AND la_code = 'E08000009' AND period = DATE '2021-09-01'"
        ).fetchone()[0]
    report = copy / "data" / report  # the ledger holds paths relative to the data folder
    quality = json.loads(report.read_text())["quality_findings"]
    assert any("2021-09" == q["period"] and "89" in q["message"] for q in quality), quality
    assert "Quality checks across your returns" in report.with_suffix(".html").read_text()


def test_fostering_run_exits_1_and_says_why_when_the_gate_blocks(copy):
    before = _latest(copy)
    # `fostering run` rebuilds the marts with dbt, so break what dbt builds them from: places
    # that no longer add up make place_utilisation exceed 1, which only the gate catches
    _damage(
        copy,
        "UPDATE raw.households SET places_unavailable = approved_places - 1 WHERE carer_type = 'mainstream' "
        "AND submission_id = (SELECT min(submission_id) FROM ops.submissions WHERE is_current)",
    )
    result = fostering("run", "--landing", copy / "landing", "--warehouse", copy / "data" / "warehouse.duckdb", check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Publish WITHHELD: blocking quality checks failed" in result.stdout
    assert _latest(copy) == before
