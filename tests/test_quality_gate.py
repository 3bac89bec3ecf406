"""The quality gate: its Great Expectations suites, and the code that runs them on the warehouse."""

import datetime as dt
import json
import os
import shutil
from dataclasses import replace

import dagster as dg
import duckdb
import pandas as pd
import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

import great_expectations as gx  # noqa: E402

from orchestration.quality.gate import gx_context, gx_suite, load_suites, run_gate, run_suite  # noqa: E402
from orchestration.settings import load_settings  # noqa: E402
from tests.conftest import PROJECT_ROOT  # noqa: E402
from tests.test_cli import fostering  # noqa: E402

SUITES = {suite.name: suite for suite in load_suites()}
CHECKED = {
    "stg_submission", "stg_households", "stg_recruitment", "stg_placements", "stg_placement_requests", "stg_finance",
    "stg_deregistrations", "stg_withdrawals", "mart_recruitment", "mart_sufficiency", "mart_sufficiency_by_need",
    "mart_cost_per_placement", "mart_cost_comparison", "mart_finance", "mart_benchmark", "mart_submission_status",
}
PARAMETERS = {"swing_threshold": 0.15, "swing_min_change": 3, "places_tolerance": 2, "la_codes": ["E08000001", "E08000009"]}
BOLTON, SEPT = "E08000001", pd.Timestamp("2021-09-01")


@pytest.fixture(scope="module")
def context():
    return gx_context()


def only(name: str, column: str):
    """The named suite with only its expectations on `column` (as the outcome names it, e.g. "a,b" for a pair)."""
    suite = SUITES[name]
    picked = [e for e in suite.raw["expectations"] if _column(e["kwargs"]) == column]
    assert picked, f"{name} has no expectation on {column}"
    return replace(suite, raw={**suite.raw, "expectations": picked})


def _column(kwargs):
    return kwargs.get("column") or ",".join(kwargs.get("column_list") or [kwargs.get("column_A", ""), kwargs.get("column_B", "")])


def failed(outcome):
    return [o for o in outcome.outcomes if not o.success]


# ---------------------------------------------------------------- the suite files


def test_one_suite_per_checked_table():
    assert set(SUITES) == CHECKED
    assert len({tuple(s.asset_key) for s in SUITES.values()}) == len(SUITES)  # one asset check each


@pytest.mark.parametrize("name", sorted(CHECKED))
def test_suite_json_loads_as_a_gx_suite_with_meta_on_every_expectation(name):
    suite = SUITES[name]
    # ExpectationSuite(**json) leaves out (and only logs) an expectation it cannot build: count them.
    assert len(gx.ExpectationSuite(**suite.raw).expectations) == len(suite.raw["expectations"])
    assert len(gx_suite(suite.raw).expectations) == len(suite.raw["expectations"])
    assert suite.asset_key[0] in ("staging", "marts") and suite.asset_key[1] == name
    assert suite.query.strip().lower().startswith(("select", "with"))
    assert {"la_code", "period"} <= set(suite.keys)
    for expectation in suite.raw["expectations"]:
        meta = expectation["meta"]
        assert isinstance(meta.get("protects"), str) and meta["protects"], expectation
        assert isinstance(meta.get("blocking"), bool), expectation
        assert "message" not in meta or not meta["blocking"], "messages are for warnings an LA can act on"


@pytest.mark.parametrize("name", sorted(CHECKED))
def test_every_table_has_its_grain_unique_and_no_orphan_la_codes(name):
    expectations = SUITES[name].raw["expectations"]
    grain = [e for e in expectations if e["type"] == "expect_compound_columns_to_be_unique"]
    assert len(grain) == 1 and grain[0]["meta"]["blocking"]
    orphans = [e for e in expectations if e["kwargs"].get("value_set") == {"$PARAMETER": "la_codes"}]
    assert len(orphans) == 1 and orphans[0]["kwargs"]["column"] == "la_code" and orphans[0]["meta"]["blocking"]


# ---------------------------------------------------------------- expectations on hand-made rows


def test_a_duplicated_grain_row_fails_blocking(context):
    frame = pd.DataFrame({"la_code": [BOLTON, BOLTON, BOLTON], "period": [SEPT, SEPT, pd.Timestamp("2021-10-01")]})
    outcome = run_suite(only("mart_sufficiency", "la_code,period"), frame, PARAMETERS, context=context)
    [grain] = failed(outcome)
    assert grain.blocking and grain.expectation == "expect_compound_columns_to_be_unique"
    assert grain.unexpected_count == 2
    assert grain.failing_keys == [{"la_code": BOLTON, "period": "2021-09-01"}] * 2
    assert not outcome.passed and outcome.errors == 1 and outcome.warnings == 0


def test_a_rate_above_1_fails_blocking(context):
    frame = pd.DataFrame({"la_code": [BOLTON] * 3, "period": pd.to_datetime(["2021-08-01", "2021-09-01", "2021-10-01"]), "place_utilisation": [0.5, 1.2, None]})
    outcome = run_suite(only("mart_sufficiency", "place_utilisation"), frame, PARAMETERS, context=context)
    [rate] = failed(outcome)
    assert rate.blocking and rate.column == "place_utilisation" and rate.unexpected_count == 1
    assert rate.failing_keys == [{"la_code": BOLTON, "period": "2021-09-01"}]
    assert not outcome.passed


def test_stock_and_flows_disagreeing_warns_with_a_message_the_la_can_act_on(context):
    frame = pd.DataFrame({
        "la_code": [BOLTON, BOLTON], "period": [SEPT, SEPT], "carer_type": ["mainstream", "connected"],
        "previous_households": [91, 40], "approved_households": [89, 41], "approvals": [0, 1], "deregistrations": [0, 0],
        "stock_flow_residual": [-2, 0],
    })
    outcome = run_suite(only("mart_recruitment", "stock_flow_residual"), frame, PARAMETERS, context=context)
    [residual] = failed(outcome)
    assert not residual.blocking and outcome.passed and outcome.warnings == 1
    assert residual.failing_keys == [{"la_code": BOLTON, "period": "2021-09-01", "carer_type": "mainstream"}]
    [message] = residual.messages
    assert message["la_code"] == BOLTON and message["period"] == "2021-09"
    assert message["message"].startswith(
        "your mainstream households went from 91 to 89 in 2021-09 but your return shows 0 approvals and 0 deregistrations"
    )


def test_a_swing_beyond_the_threshold_warns_and_the_parameter_is_honoured(context):
    frame = pd.DataFrame({
        "la_code": [BOLTON] * 2, "period": [SEPT] * 2, "carer_type": ["mainstream", "connected"],
        "previous_households": [100, 20], "approved_households": [90, 24], "household_swing": [0.10, 0.20],
    })
    suite = only("stg_households", "household_swing")
    [swing] = failed(run_suite(suite, frame, PARAMETERS, context=context))
    assert not swing.blocking and swing.failing_keys == [{"la_code": BOLTON, "period": "2021-09-01", "carer_type": "connected"}]
    assert "went from 20 at the end of the previous month to 24 at the end of 2021-09, a change of 20%" in swing.messages[0]["message"]
    assert not failed(run_suite(suite, frame, {**PARAMETERS, "swing_threshold": 0.25}, context=context))
    assert len(failed(run_suite(suite, frame, {**PARAMETERS, "swing_threshold": 0.05}, context=context))[0].messages) == 2


def _households_warehouse(path, stocks):
    """A warehouse with only what the stg_households suite reads: `stocks` is [(la_code, carer_type, [households by month from 2021-08])]."""
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA staging; CREATE SCHEMA intermediate")
        con.execute("CREATE TABLE intermediate.int_placement_days_by_month (la_code VARCHAR, period DATE, category VARCHAR, is_open_at_month_end BOOLEAN)")
        con.execute(
            "CREATE TABLE staging.stg_households (la_code VARCHAR, period DATE, carer_type VARCHAR, approved_households INTEGER, "
            "approved_places INTEGER, places_filled INTEGER, places_vacant INTEGER, places_unavailable INTEGER)"
        )
        for la, carer_type, households in stocks:
            for i, n in enumerate(households):
                con.execute("INSERT INTO staging.stg_households VALUES (?, ?, ?, ?, 0, 0, 0, 0)", [la, dt.date(2021, 8 + i, 1), carer_type, n])
    return path


def test_a_swing_within_the_floor_does_not_warn_and_the_floor_is_a_setting(tmp_path):
    """The swing check warns only when the change is beyond the threshold (a fraction) and beyond the
    floor (FOSTERING_SWING_MIN_CHANGE households), through the suite's own query on a warehouse."""
    bury = "E08000002"
    warehouse = _households_warehouse(tmp_path / "warehouse.duckdb", [
        (BOLTON, "connected", [19, 22]),  # 3 on 19: 16 %, but a change of 3 households
        (BOLTON, "mainstream", [40, 50]),  # 10 on 40: 25 %
        (bury, "connected", [19, 15]),  # 4 on 19: 21 %, beyond the default floor
        (bury, "mainstream", [100, 110]),  # 10 on 100: 10 %, within the threshold
    ])
    suite = only("stg_households", "household_swing")

    def warned(**env):
        settings = load_settings({"FOSTERING_WAREHOUSE": str(warehouse), **env})
        [outcome] = run_gate(warehouse, settings, [suite])
        [swing] = outcome.outcomes
        assert swing.exception is None and not swing.blocking
        return sorted((k["la_code"], k["carer_type"]) for k in swing.failing_keys), swing.messages

    keys, messages = warned()
    assert load_settings({}).swing_min_change == 3
    assert keys == [(BOLTON, "mainstream"), (bury, "connected")]
    assert {m["message"] for m in messages} >= {
        "your mainstream approved households went from 40 at the end of the previous month to 50 at the end of 2021-09, "
        "a change of 25% (we ask about changes over 15% and over 3 households): please check the households sheet, "
        "or tell us what caused the change"
    }
    assert warned(FOSTERING_SWING_MIN_CHANGE="0")[0] == [(BOLTON, "connected"), (BOLTON, "mainstream"), (bury, "connected")]
    assert warned(FOSTERING_SWING_MIN_CHANGE="4")[0] == [(BOLTON, "mainstream")]
    assert warned(FOSTERING_SWING_MIN_CHANGE="10")[0] == []  # a change of 10 is not beyond a floor of 10
    assert warned(FOSTERING_SWING_THRESHOLD="0.05")[0] == [(BOLTON, "mainstream"), (bury, "connected"), (bury, "mainstream")]


def test_an_orphan_la_code_fails_blocking(context):
    frame = pd.DataFrame({"la_code": [BOLTON, "E99999999"], "period": [SEPT, SEPT], "carer_type": ["mainstream"] * 2})
    [orphan] = failed(run_suite(only("stg_households", "la_code"), frame, PARAMETERS, context=context))
    assert orphan.blocking and orphan.expectation == "expect_column_values_to_be_in_set"
    assert orphan.failing_keys == [{"la_code": "E99999999", "period": "2021-09-01", "carer_type": "mainstream"}]


def test_inhouse_places_filled_against_placements_beyond_the_tolerance_warns(context):
    frame = pd.DataFrame({
        "la_code": [BOLTON] * 3, "period": pd.to_datetime(["2021-09-01", "2021-10-01", "2021-10-01"]),
        "carer_type": ["mainstream", "mainstream", "connected"], "places_filled": [120, 120, 30],
        "inhouse_placements_open": [117, 118, None], "places_gap": [3, 2, None],
    }).astype({"inhouse_placements_open": "Int64", "places_gap": "Int64"})  # as DuckDB reads a nullable integer
    suite = only("stg_households", "places_gap")
    [gap] = failed(run_suite(suite, frame, PARAMETERS, context=context))
    assert not gap.blocking and gap.unexpected_count == 1
    assert gap.messages == [{
        "la_code": BOLTON, "period": "2021-09",
        "message": "your households sheet shows 120 mainstream places filled at the end of 2021-09, but your placements sheet "
        "has 117 children in in-house foster placements (U4-U6 with PR1) open at month end, a difference of 3 (we ask about "
        "differences over 2): please check that the two sheets agree",
    }]
    assert not failed(run_suite(suite, frame, {**PARAMETERS, "places_tolerance": 3}, context=context))


def test_a_weekly_cost_outside_its_category_range_warns(context):
    frame = pd.DataFrame({
        "la_code": [BOLTON] * 3, "period": [SEPT] * 3, "source_row": [2, 3, 4], "placement_type": ["U4", "U4", "R1"],
        "placement_provider": ["PR1", "PR4", "PR2"], "category": ["foster_inhouse", "foster_ifa", "residential_external"],
        "weekly_cost": [10.0, 900.0, 25000.0], "min_weekly_cost": [50.0, 50.0, 1000.0], "max_weekly_cost": [3000.0, 3000.0, 15000.0],
    })
    outcome = run_suite(only("stg_placements", "weekly_cost,min_weekly_cost"), frame, PARAMETERS, context=context)
    [low] = failed(outcome)
    assert not low.blocking and outcome.passed
    assert low.failing_keys == [{"la_code": BOLTON, "period": "2021-09-01", "source_row": 2}]
    assert low.messages[0]["message"].startswith(
        "row 2 of your placements sheet for 2021-09 (U4 with PR1, foster_inhouse) has a weekly cost of £10.00, below the £50 a week"
    )
    [high] = failed(run_suite(only("stg_placements", "max_weekly_cost,weekly_cost"), frame, PARAMETERS, context=context))
    assert not high.blocking and high.failing_keys == [{"la_code": BOLTON, "period": "2021-09-01", "source_row": 4}]
    assert "£25,000.00, above the £15,000 a week we expect for residential_external" in high.messages[0]["message"]


def test_a_month_with_no_return_between_an_las_first_and_last_warns(context):
    frame = pd.DataFrame({"la_code": [BOLTON] * 2, "period": [SEPT, pd.Timestamp("2021-10-01")], "return_gap": [True, False]})
    [gap] = failed(run_suite(only("mart_submission_status", "return_gap"), frame, PARAMETERS, context=context))
    assert not gap.blocking
    assert gap.messages == [{"la_code": BOLTON, "period": "2021-09", "message": "no return for 2021-09"}]


def test_a_current_return_missing_from_a_mart_fails_blocking(context):
    frame = pd.DataFrame({"la_code": [BOLTON] * 2, "period": [SEPT, pd.Timestamp("2021-10-01")], "in_mart": [True, False]})
    [missing] = failed(run_suite(only("mart_sufficiency", "in_mart"), frame, PARAMETERS, context=context))
    assert missing.blocking and missing.failing_keys == [{"la_code": BOLTON, "period": "2021-10-01"}]


def test_a_missing_column_fails_and_says_so(context):
    frame = pd.DataFrame({"la_code": [BOLTON], "period": [SEPT]})
    outcome = run_suite(only("mart_sufficiency", "place_utilisation"), frame, PARAMETERS, context=context)
    assert len(failed(outcome)) == len(outcome.outcomes) == 2  # its type and its range
    assert {o.exception for o in outcome.outcomes} == {"no column place_utilisation in the suite's rows"}
    assert not outcome.passed


# ---------------------------------------------------------------- the whole gate on a real warehouse


@pytest.fixture(scope="module")
def small_warehouse(tmp_path_factory):
    """Three LAs' first 13 months from the bundled sample, Bury without 2021-08, through `fostering run`."""
    root = tmp_path_factory.mktemp("gate")
    for la in ("bolton", "bury", "trafford"):
        for path in sorted((PROJECT_ROOT / "raw" / "sample" / la).iterdir()):
            month = path.name[:7]
            if "2021-04" <= month <= "2022-04" and (la, month) != ("bury", "2021-08"):
                target = root / "landing" / la / path.name
                target.parent.mkdir(parents=True, exist_ok=True)
                (shutil.copytree if path.is_dir() else shutil.copy2)(path, target)
    warehouse = root / "warehouse.duckdb"
    result = fostering("run", "--landing", root / "landing", "--warehouse", warehouse)
    # 0 published, 1 withheld (or a later step failed): either way the marts are built
    assert result.returncode in (0, 1), result.stdout + result.stderr
    copy = root / "gate.duckdb"  # the gate reads a copy, as the brief for this test says
    shutil.copy2(warehouse, copy)
    return copy


@pytest.mark.slow
def test_run_gate_on_a_real_warehouse(small_warehouse, capfd):
    from orchestration.definitions import defs

    settings = load_settings({"FOSTERING_WAREHOUSE": str(small_warehouse)})
    capfd.readouterr()
    outcomes = run_gate(small_warehouse, settings)
    assert capfd.readouterr() == ("", ""), "Great Expectations printed something"

    assert [s.suite for s in outcomes] == sorted(CHECKED)
    assets = {key.to_user_string() for key in defs.resolve_all_asset_keys()}
    for suite in outcomes:
        assert "/".join(suite.asset_key) in assets, suite.asset_key
        assert suite.rows > 0, suite.suite
        assert not [o.exception for o in suite.outcomes if o.exception], suite.suite
        assert suite.passed, [(o.expectation, o.column, o.failing_keys[:3]) for o in failed(suite) if o.blocking]

    warnings = {(s.suite, o.column): o for s in outcomes for o in failed(s)}
    gap = warnings[("mart_submission_status", "return_gap")]
    assert gap.messages == [{"la_code": "E08000002", "period": "2021-08", "message": "no return for 2021-08"}]


@pytest.mark.slow
def test_every_message_placeholder_is_a_column_of_its_suites_rows(small_warehouse):
    reserved = {"month", *PARAMETERS}
    with duckdb.connect(str(small_warehouse), read_only=True) as con:
        for suite in SUITES.values():
            columns = {d[0] for d in con.execute(f"select * from ({suite.query}) limit 0").description}
            assert set(suite.placeholders) - reserved <= columns, suite.name
            assert set(suite.keys) <= columns, suite.name


@pytest.mark.slow
def test_a_suite_run_a_range_of_months_at_a_time_gives_the_whole_verdict(small_warehouse, tmp_path):
    """A national history is checked a range of months at a time, to bound the memory GX needs; the
    verdict, counts, failing rows and messages must be those of the suite run on all its rows at once."""
    broken = tmp_path / "broken.duckdb"
    shutil.copy2(small_warehouse, broken)
    with duckdb.connect(str(broken)) as con:  # failures in two months far apart, in two suites
        con.execute("UPDATE marts.mart_recruitment SET r12_conversion_rate = 2 WHERE carer_type = 'mainstream' AND period IN ('2021-06-01', '2022-03-01')")
        con.execute("UPDATE marts.mart_sufficiency SET inhouse_fostering_share = -1 WHERE period IN ('2021-05-01', '2022-04-01')")
    settings = load_settings({"FOSTERING_WAREHOUSE": str(broken)})

    whole = run_gate(broken, settings, rows_per_batch=10**9)
    by_months = run_gate(broken, settings, rows_per_batch=40)

    def plain(suite):
        return (suite.suite, suite.rows, [
            (o.expectation, o.column, o.success, o.unexpected_count, sorted(map(str, o.failing_keys)), sorted(map(str, o.messages)), o.exception)
            for o in suite.outcomes
        ])

    assert [plain(s) for s in by_months] == [plain(s) for s in whole]
    failed_now = {(s.suite, o.column) for s in whole for o in failed(s) if o.blocking}
    assert {("mart_recruitment", "r12_conversion_rate"), ("mart_sufficiency", "inhouse_fostering_share")} <= failed_now
    conversion = next(o for s in by_months for o in s.outcomes if s.suite == "mart_recruitment" and o.column == "r12_conversion_rate" and not o.success)
    assert {k["period"][:7] for k in conversion.failing_keys} == {"2021-06", "2022-03"}  # found in two batches


def test_only_suites_whose_uniqueness_is_within_a_month_are_split_by_month():
    from orchestration.quality.gate import _by_month

    assert _by_month(SUITES["stg_placements"])  # unique within (la_code, period, child_id, placement_start)
    assert not _by_month(SUITES["stg_submission"])  # submission_id unique across every month


# ------------------------------------------------- a run that rebuilt some months checks those months


def test_a_failure_outside_the_months_checked_is_carried_forward():
    from orchestration.quality.gate import ExpectationOutcome, SuiteOutcome, _carried

    def outcome(success=True, count=0, keys=()):
        return ExpectationOutcome("stg_households", "expect_column_values_to_be_between", "household_swing", "swings", False,
                                  success, count, list(keys), [])

    checked = SuiteOutcome("stg_households", ["staging", "stg_households"], 10, [outcome()])
    months = (dt.date(2022, 1, 1), dt.date(2022, 3, 1))
    earlier = {"suite": "stg_households", "failed": [{
        "expectation": "expect_column_values_to_be_between", "column": "household_swing", "protects": "swings",
        "unexpected_count": 2, "failing_keys": [{"la_code": "A", "period": "2021-06-01"}, {"la_code": "B", "period": "2022-02-01"}],
    }]}
    carried = _carried(checked, earlier, months).outcomes[0]
    # 2022-02 was checked again and passed; 2021-06 was not checked, so its failure stands.
    assert not carried.success and carried.unexpected_count == 1 and carried.failing_keys == [{"la_code": "A", "period": "2021-06-01"}]
    assert _carried(checked, earlier, months).months == ["2022-01-01", "2022-03-01"]

    only_inside = {"suite": "stg_households", "failed": [{**earlier["failed"][0], "unexpected_count": 1, "failing_keys": [{"la_code": "B", "period": "2022-02-01"}]}]}
    assert _carried(checked, only_inside, months).outcomes[0].success  # re-checked, and fixed
    capped = {"suite": "stg_households", "failed": [{**earlier["failed"][0], "unexpected_count": 40}]}
    assert _carried(checked, capped, months).outcomes[0].unexpected_count == 39  # months unknown beyond the kept keys: carried
    assert _carried(checked, None, months).outcomes[0].success


def test_the_months_a_run_rebuilt_come_from_its_partition_range():
    from orchestration.partitions import FULL_REFRESH_TAG, range_tags, rebuilt_months

    assert rebuilt_months(range_tags(dg.PartitionKeyRange("2022-06", "2023-05"))) == (dt.date(2022, 6, 1), dt.date(2023, 5, 1))
    assert rebuilt_months({}) is None  # no range: check everything
    assert rebuilt_months({**range_tags(dg.PartitionKeyRange("2022-06", "2023-05")), FULL_REFRESH_TAG: "true"}) is None


@pytest.mark.slow
def test_staging_and_monthly_mart_suites_check_only_the_months_rebuilt_and_carry_earlier_failures(small_warehouse, tmp_path):
    broken = tmp_path / "broken.duckdb"
    shutil.copy2(small_warehouse, broken)
    with duckdb.connect(str(broken)) as con:  # a blocking staging failure in 2021-06 (a negative sibling group)
        con.execute(
            "UPDATE raw.placements SET sibling_group_size = 0 WHERE submission_id IN "
            "(SELECT submission_id FROM ops.submissions WHERE is_current AND period = '2021-06-01' AND la_code = 'E08000001')"
        )  # and a blocking mart failure in the same month (a conversion rate of 2)
        con.execute("UPDATE marts.mart_recruitment SET r12_conversion_rate = 2 WHERE carer_type = 'mainstream' AND period = '2021-06-01'")
    settings = load_settings({"FOSTERING_WAREHOUSE": str(broken)})
    whole = run_gate(broken, settings)
    placements = next(s for s in whole if s.suite == "stg_placements")
    assert placements.errors and placements.months is None
    previous = [{"suite": s.suite, "failed": [
        {"expectation": o.expectation, "column": o.column, "protects": o.protects, "unexpected_count": o.unexpected_count,
         "failing_keys": o.failing_keys[:10]} for o in failed(s)]} for s in whole]

    later = run_gate(broken, settings, months=(dt.date(2022, 1, 1), dt.date(2022, 3, 1)), previous=previous)
    placements_later = next(s for s in later if s.suite == "stg_placements")
    assert placements_later.months == ["2022-01-01", "2022-03-01"]
    assert placements_later.rows < placements.rows  # only three months read
    assert placements_later.errors == placements.errors  # the 2021-06 failure still blocks
    recruitment, recruitment_later = (next(s for s in run if s.suite == "mart_recruitment") for run in (whole, later))
    assert recruitment.errors and recruitment_later.errors == recruitment.errors  # so does the mart's
    # a mart built by month is checked on those months too; one rebuilt whole every run is checked whole
    sufficiency, sufficiency_later = (next(s for s in run if s.suite == "mart_sufficiency") for run in (whole, later))
    assert sufficiency_later.months == ["2022-01-01", "2022-03-01"] and 0 < sufficiency_later.rows < sufficiency.rows
    assert next(s for s in later if s.suite == "mart_submission_status").rows == next(s for s in whole if s.suite == "mart_submission_status").rows
    assert next(s for s in later if s.suite == "mart_submission_status").months is None

    every = run_gate(broken, settings, months=(dt.date(2021, 1, 1), dt.date(2022, 12, 1)), previous=previous)
    assert next(s for s in every if s.suite == "stg_placements").months is None  # covers every month: a whole check


def test_feedback_keeps_the_staging_findings_of_a_month_not_checked_again(tmp_path):
    from orchestration.returns.findings import Findings, ReportHeader, add_quality_findings, write_reports

    header = ReportHeader("bolton/2021-06", "0" * 64, "accepted", "E08000001", "Bolton", "2021-06", "2021-07-10 09:00:00", "1.0")
    paths = write_reports(header, Findings().frame(), tmp_path, "r")
    js, ht = paths["json"], paths["html"]
    earlier = [
        {"period": "2021-06", "check": "swings", "message": "swing", "blocking": False, "suite": "stg_households"},
        {"period": "2021-06", "check": "gap", "message": "old gap", "blocking": False, "suite": "mart_submission_status"},
    ]
    add_quality_findings(js, ht, earlier)
    fresh = [{"period": "2021-06", "check": "gap", "message": "new gap", "blocking": False, "suite": "mart_submission_status"}]
    add_quality_findings(js, ht, fresh, keep=frozenset({"stg_households"}))
    assert [q["message"] for q in json.loads(js.read_text())["quality_findings"]] == ["swing", "new gap"]
    assert "new gap" in ht.read_text() and "old gap" not in ht.read_text()
    add_quality_findings(js, ht, fresh)  # a gate that checked this month replaces everything
    assert [q["message"] for q in json.loads(js.read_text())["quality_findings"]] == ["new gap"]
