"""The marts reproduce councils' own figures and hand-worked answers, end to end through `fostering run`."""

import shutil
from pathlib import Path

import duckdb
import pytest

from orchestration.returns.writers import write_return
from tests.conftest import PROJECT_ROOT
from tests.fixtures.returns import good_tables
from tests.test_cli import fostering

MARTS = {
    "mart_recruitment", "mart_sufficiency", "mart_sufficiency_by_need", "mart_cost_per_placement",
    "mart_cost_comparison", "mart_finance", "mart_benchmark", "mart_submission_status",
}


def _query(warehouse: Path, sql: str, *params):
    with duckdb.connect(str(warehouse), read_only=True) as con:
        cursor = con.execute(sql, list(params))
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]


@pytest.fixture(scope="module")
def trafford_warehouse(tmp_path_factory):
    """Trafford's bundled returns (its real 2021/22 series and what follows), through the whole pipeline."""
    root = tmp_path_factory.mktemp("trafford")
    landing = root / "landing"
    shutil.copytree(PROJECT_ROOT / "raw" / "sample" / "trafford", landing / "trafford")
    warehouse = root / "warehouse.duckdb"
    result = fostering("run", "--landing", landing, "--warehouse", warehouse)
    assert result.returncode == 0, result.stdout + result.stderr
    return warehouse


def test_all_eight_marts_are_built(trafford_warehouse):
    tables = {r["table_name"] for r in _query(trafford_warehouse, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts'")}
    assert tables == MARTS


def test_trafford_recruitment_reproduces_the_published_series(trafford_warehouse):
    row = _query(
        trafford_warehouse,
        "SELECT * FROM marts.mart_recruitment WHERE la_code = 'E08000009' AND carer_type = 'mainstream' AND period = DATE '2022-02-01'",
    )[0]
    assert row["r12_months"] == 11
    # The council's report gives 216 enquiries over the 11 months, but its own monthly
    # figures (reference/trafford_2021_22_monthly.csv) add up to 196: the marts follow the months.
    assert row["r12_enquiries"] == 196
    assert (row["r12_initial_visits"], row["r12_applications"], row["r12_approvals"], row["r12_deregistrations"]) == (16, 6, 4, 12)
    assert row["r12_conversion_rate"] == pytest.approx(4 / 196)
    assert row["approved_households"] == 83
    residuals = _query(
        trafford_warehouse,
        "SELECT period, household_stock_residual AS r FROM marts.mart_recruitment "
        "WHERE la_code = 'E08000009' AND carer_type = 'mainstream' ORDER BY period",
    )
    assert residuals[0]["r"] is None  # the first month has no previous month
    assert all(r["r"] == 0 for r in residuals[1:])


@pytest.fixture(scope="module")
def hand_built_warehouse(tmp_path_factory):
    """One return whose answers are worked out by hand below (Trafford, September 2023, 30 days)."""
    root = tmp_path_factory.mktemp("hand")
    tables = good_tables()
    # overheads: fostering_staff 700 + fostering_other 140 = 840 for the month
    tables["finance"] = tables["finance"].assign(actual=[120000.00, 250000.50, 700.00, 140.00])
    write_return(tables, root / "landing" / "2023-09.xlsx", "xlsx")
    warehouse = root / "warehouse.duckdb"
    result = fostering("run", "--landing", root / "landing", "--warehouse", warehouse)
    assert result.returncode == 0, result.stdout + result.stderr
    return warehouse


def test_sufficiency_by_hand(hand_built_warehouse):
    # At 30 September: child 1 in-house foster (in area), child 2 left the IFA on 15 September,
    # child 3 in an external children's home since 10 September (out of area), child 4 with
    # family and friends carers (in area).
    row = _query(hand_built_warehouse, "SELECT * FROM marts.mart_sufficiency")[0]
    assert row["children_looked_after"] == 3
    assert (row["foster_inhouse"], row["foster_connected"], row["foster_ifa"], row["residential_external"]) == (1, 1, 0, 1)
    assert row["fostering"] == 2
    assert row["inhouse_fostering_share"] == pytest.approx(1.0)
    assert row["family_based_share"] == pytest.approx(2 / 3)
    assert row["residential_share"] == pytest.approx(1 / 3)
    assert row["in_area_share"] == pytest.approx(2 / 3)
    assert row["cla_rate_per_10k"] == pytest.approx(3 / 55000 * 10000)
    # households: mainstream 83/110/2/70/38 + connected 12/14/1/10/3
    assert (row["approved_households"], row["approved_places"], row["places_filled"], row["places_vacant"], row["places_unavailable"]) == (95, 124, 3, 80, 41)
    assert row["place_utilisation"] == pytest.approx(3 / (124 - 41))
    assert (row["requests"], row["placed_in_house"], row["placed_external"], row["not_placed"]) == (12, 5, 5, 2)
    assert row["inhouse_fill_rate"] == pytest.approx(5 / 12)
    assert row["moves_3plus_12m_share"] is None  # one month of returns, not twelve
    assert row["r12_net_places_change"] is None

    needs = {r["need_category"]: r for r in _query(hand_built_warehouse, "SELECT * FROM marts.mart_sufficiency_by_need")}
    assert len(needs) == 8
    assert needs["teenager"]["inhouse_fill_rate"] == pytest.approx(1 / 5)
    assert needs["general"]["r12_inhouse_fill_rate"] == pytest.approx(4 / 7)
    assert needs["uasc"]["requests"] == 0 and needs["uasc"]["inhouse_fill_rate"] is None


def test_cost_per_placement_by_hand(hand_built_warehouse):
    rows = {r["category"]: r for r in _query(hand_built_warehouse, "SELECT * FROM marts.mart_cost_per_placement")}
    assert set(rows) == {"foster_inhouse", "foster_ifa", "residential_external", "foster_connected"}
    inhouse, ifa, resi, connected = (rows[c] for c in ("foster_inhouse", "foster_ifa", "residential_external", "foster_connected"))
    assert inhouse["child_weeks"] == pytest.approx(30 / 7)
    assert inhouse["placement_spend"] == pytest.approx(343 * 30 / 7)
    assert ifa["child_weeks"] == pytest.approx(2.0)  # 1-14 September: the day it ended is not a day in placement
    assert ifa["placement_spend"] == pytest.approx(1754.0)
    assert resi["child_weeks"] == pytest.approx(3.0)  # 10-30 September
    assert resi["avg_weekly_cost"] == pytest.approx(4500.0)
    # 840 of overheads, shared by child-days: 30 in-house, 30 connected
    assert inhouse["overhead_spend"] == pytest.approx(420.0) and connected["overhead_spend"] == pytest.approx(420.0)
    assert ifa["overhead_spend"] == 0 and resi["overhead_spend"] == 0
    assert inhouse["fully_loaded_weekly_cost"] == pytest.approx((1470 + 420) / (30 / 7))  # 441.00

    comparison = _query(hand_built_warehouse, "SELECT * FROM marts.mart_cost_comparison")[0]
    assert comparison["inhouse_weekly_cost"] == pytest.approx(441.0)
    assert comparison["ifa_weekly_cost"] == pytest.approx(877.0)
    assert comparison["ifa_premium_weekly"] == pytest.approx(436.0)
    assert comparison["annual_saving_per_child"] == pytest.approx(436.0 * 52)


def test_finance_and_submission_status_by_hand(hand_built_warehouse):
    finance = {r["cost_line"]: r for r in _query(hand_built_warehouse, "SELECT * FROM marts.mart_finance")}
    assert finance["ifa_fees"]["variance"] == pytest.approx(250000.50 - 210000.00)
    assert finance["ifa_fees"]["fytd_actual"] == pytest.approx(250000.50)  # September is the only month of 2023/24 present
    status = _query(hand_built_warehouse, "SELECT * FROM marts.mart_submission_status WHERE la_code = 'E08000009'")
    assert [(r["status"], r["versions"]) for r in status] == [("accepted", 1)]
    # Loaded today, long after its due date: judged on the LA's sign-off, never on the loading day (issue 15).
    assert status[0]["lateness_basis"] in ("signed_off", "unknown")
    assert (status[0]["late"] is None) == (status[0]["lateness_basis"] == "unknown")
    # every LA of the reference list has a row for the period; the others are missing
    others = _query(hand_built_warehouse, "SELECT count(*) AS n, min(status) AS s, max(status) AS t FROM marts.mart_submission_status WHERE la_code <> 'E08000009'")[0]
    assert (others["n"], others["s"], others["t"]) == (23, "missing", "missing")
    bases = _query(hand_built_warehouse, "SELECT DISTINCT lateness_basis FROM marts.mart_submission_status WHERE la_code <> 'E08000009'")
    assert [r["lateness_basis"] for r in bases] == ["no_accepted_return"]


def test_dbt_docs_generate_builds_the_data_dictionary(trafford_warehouse, tmp_path):
    import os
    import subprocess
    import sys

    dbt = Path(sys.executable).parent / "dbt"
    project = PROJECT_ROOT / "dbt_project"
    result = subprocess.run(
        [str(dbt), "docs", "generate", "--project-dir", str(project), "--profiles-dir", str(project), "--target-path", str(tmp_path / "target")],
        capture_output=True, text=True, env={**os.environ, "FOSTERING_WAREHOUSE": str(trafford_warehouse)},
    )
    assert result.returncode == 0, result.stdout[-2000:]
    catalog = (tmp_path / "target" / "catalog.json").read_text()
    assert "mart_recruitment" in catalog and "r12_conversion_rate" in catalog
    assert (tmp_path / "target" / "index.html").exists()
