"""Monthly partitions: a resubmission rebuilds its month and the 11 after it, and nothing else.

One warehouse is built from two LAs' bundled returns (Bolton without its
resubmission, and Reading). Bolton's resubmission of 2022-06 then lands, and
the next run must rebuild exactly 2022-06 to 2023-05 (the rolling windows the
month is in), leave every other month's rows as they were, and end with marts
identical to a build from scratch of the same returns.
"""

import datetime as dt
import json
import re
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.definitions import defs
from orchestration.monthly_builds import pending_periods
from orchestration.partitions import monthly_partitions, months_of, range_covering, range_tags
from orchestration.pipeline import run_pipeline
from orchestration.rebuild_sensor import rebuild_sensor
from orchestration.resources import default_resources
from orchestration.settings import load_settings
from tests.conftest import PROJECT_ROOT
from tests.test_cli import fostering

SAMPLE = PROJECT_ROOT / "raw" / "sample"
MARKER = " [kept]"  # put on rows of months that must not be rebuilt
MONTHLY_MARTS = ["mart_recruitment", "mart_sufficiency", "mart_sufficiency_by_need", "mart_cost_per_placement",
                 "mart_cost_comparison", "mart_finance", "mart_benchmark"]
# How a generic test reads the model it tests, narrowed by its `where` (dbt's get_where_subquery).
STAGED = re.compile(r'from \(select \* from "[^"]+"\."staging"\."\w+" where (?P<where>.*?)\) dbt_subquery')
TESTED_MODEL = re.compile(r'from \(select \* from "[^"]+"\."(?:marts|intermediate)"\."(?P<model>\w+)" where (?P<where>.*?)\) dbt_subquery')
RESUBMITTED = [f"{y}-{m:02d}" for y, m in [(2022, 6), (2022, 7), (2022, 8), (2022, 9), (2022, 10), (2022, 11),
                                           (2022, 12), (2023, 1), (2023, 2), (2023, 3), (2023, 4), (2023, 5)]]


def _settings(root: Path):
    return load_settings({
        "FOSTERING_LANDING": str(root / "landing"),
        "FOSTERING_WAREHOUSE": str(root / "data" / "warehouse.duckdb"),
    })


def _landing(root: Path, with_resubmission: bool) -> None:
    shutil.copytree(SAMPLE / "reading", root / "landing" / "reading")
    shutil.copytree(SAMPLE / "bolton", root / "landing" / "bolton", ignore=None if with_resubmission else shutil.ignore_patterns("resubmissions"))


def _marts(warehouse: Path) -> dict[str, list]:
    """Every monthly mart's rows, doubles to 6 decimals: sums of doubles differ in their last bits
    from one DuckDB run to the next (threads add in any order), rebuilt or not."""
    def row(values):
        return repr(tuple(round(v, 6) if isinstance(v, float) else v for v in values))

    with duckdb.connect(str(warehouse), read_only=True) as con:
        return {m: sorted(map(row, con.execute(f"SELECT * FROM marts.{m}").fetchall())) for m in MONTHLY_MARTS}


@pytest.fixture(scope="module")
def before_resubmission(tmp_path_factory):
    root = tmp_path_factory.mktemp("partitions")
    _landing(root, with_resubmission=False)
    report = run_pipeline(_settings(root))
    assert report.exit_code == 0, report.text
    return root, report


@pytest.fixture(scope="module")
def after_resubmission(before_resubmission, tmp_path_factory):
    """The same warehouse after Bolton's resubmission of 2022-06 has landed and been run."""
    built, _ = before_resubmission
    root = tmp_path_factory.mktemp("resubmitted")
    shutil.copytree(built, root, dirs_exist_ok=True, symlinks=True)
    # a marker in the first and last month either side of the range, and just inside it
    with duckdb.connect(str(root / "data" / "warehouse.duckdb")) as con:
        con.execute(f"UPDATE marts.mart_sufficiency SET la_name = la_name || '{MARKER}' WHERE period IN ('2022-05-01', '2022-06-01', '2023-05-01', '2023-06-01')")
        builds_before = dict(con.execute("SELECT period, built_at FROM ops.monthly_builds").fetchall())
    shutil.copytree(SAMPLE / "bolton" / "resubmissions", root / "landing" / "bolton" / "resubmissions")
    report = run_pipeline(_settings(root))
    assert report.exit_code == 0, report.text
    _keep_run_results(root, "resubmission")
    return root, report, builds_before


def _keep_run_results(root: Path, name: str) -> None:
    """The run's two dbt builds' run_results (the unpartitioned models', the monthly ones'), kept
    before a later run replaces them."""
    for part in ("whole", "monthly"):
        shutil.copy(root / "data" / "dbt" / "target" / f"run_results.{part}.json", root / f"run_results-{name}.{part}.json")


def _staging_test_filters(root: Path, name: str) -> set[str]:
    """The row filters of the staging views' data tests in the run's build of the unpartitioned models."""
    results = json.loads((root / f"run_results-{name}.whole.json").read_text())["results"]
    found = (STAGED.search(r.get("compiled_code") or "") for r in results if r["unique_id"].startswith("test."))
    return {f["where"] for f in found if f}


def _tested_monthly_models() -> set[str]:
    """The models built by month (incremental) that have a generic data test, from the dbt manifest."""
    nodes = json.loads((PROJECT_ROOT / "dbt_project" / "target" / "manifest.json").read_text())["nodes"]
    monthly = {n["name"] for n in nodes.values() if n["resource_type"] == "model" and n["config"]["materialized"] == "incremental"}
    tested = {nodes[d]["name"] for n in nodes.values() if n["resource_type"] == "test" and n.get("test_metadata")
              for d in n["depends_on"]["nodes"] if d in nodes}
    return monthly & tested


def _monthly_model_tests(root: Path, name: str) -> tuple[dict[str, set[str]], list[str]]:
    """Each monthly model's data tests' row filters (the `where` of the tested model, as compiled), and
    the unit tests the build ran."""
    results = json.loads((root / f"run_results-{name}.monthly.json").read_text())["results"]
    filters: dict[str, set[str]] = {}
    for r in results:
        found = TESTED_MODEL.search(r.get("compiled_code") or "")
        if r["unique_id"].startswith("test.") and found:
            filters.setdefault(found["model"], set()).add(found["where"])
    return filters, [r["unique_id"] for r in results if r["unique_id"].startswith("unit_test.")]


def test_a_first_run_builds_every_month_with_returns(before_resubmission):
    root, report = before_resubmission
    months = [f"{y}-{m:02d}" for y in (2021, 2022, 2023) for m in range(1, 13)]
    assert report.months_built == [m for m in months if "2021-04" <= m <= "2023-09"]
    with duckdb.connect(str(root / "data" / "warehouse.duckdb"), read_only=True) as con:
        assert pending_periods(con) == []


def test_a_resubmission_rebuilds_its_month_and_the_eleven_after_it(after_resubmission):
    _, report, _ = after_resubmission
    assert report.months_built == RESUBMITTED
    assert "Built the months 2022-06 to 2023-05" in report.text


def test_a_rebuild_tests_only_the_months_it_built_and_runs_no_unit_test(after_resubmission):
    root, _, _ = after_resubmission
    filters, unit_tests = _monthly_model_tests(root, "resubmission")
    assert set(filters) == _tested_monthly_models()
    assert {w for ws in filters.values() for w in ws} == {
        "period >= cast('2022-06-01' as date) and period <= cast('2023-05-01' as date)"
    }
    assert unit_tests == []  # they run in the test suite (tests/test_dbt_unit_tests.py), not in production
    # the staging views' tests check the same months (a return is staged in its own month), except the
    # one test of the ledger that says which rows it checks (current submissions)
    assert _staging_test_filters(root, "resubmission") == {
        "period >= cast('2022-06-01' as date) and period <= cast('2023-05-01' as date)", "is_current",
    }


def _dbt_events(root: Path, invocation_id: str) -> set[str]:
    """The names of the events one dbt invocation logged (dbt's JSON log under the data folder, rotated files too)."""
    names = set()
    for log in (root / "data" / "dbt" / "logs").glob("dbt.log*"):
        for line in log.read_text().splitlines():
            if invocation_id in line:
                names.add(json.loads(line)["info"]["name"])
    return names


def test_a_rebuild_keeps_dbts_parse_warm(after_resubmission):
    """The run's months reach dbt without changing its command line (decision L5), so the monthly
    build, which follows the unpartitioned models' build with another range, does not parse again."""
    root, _, _ = after_resubmission
    results = json.loads((root / "run_results-resubmission.monthly.json").read_text())
    events = _dbt_events(root, results["metadata"]["invocation_id"])
    assert "PartialParsingSkipParsing" in events
    assert "UnableToPartialParse" not in events
    assert "--vars" not in results["args"].get("invocation_command", "")


def test_months_outside_the_range_are_left_as_they_were(after_resubmission):
    root, _, builds_before = after_resubmission
    with duckdb.connect(str(root / "data" / "warehouse.duckdb"), read_only=True) as con:
        marked = dict(con.execute(
            f"SELECT strftime(period, '%Y-%m'), bool_and(ends_with(la_name, '{MARKER}')) FROM marts.mart_sufficiency "
            "WHERE period IN ('2022-05-01', '2022-06-01', '2023-05-01', '2023-06-01') GROUP BY 1"
        ).fetchall())
        builds_after = dict(con.execute("SELECT period, built_at FROM ops.monthly_builds").fetchall())
    assert marked == {"2022-05": True, "2022-06": False, "2023-05": False, "2023-06": True}
    rebuilt = sorted(p.strftime("%Y-%m") for p in builds_after if builds_after[p] != builds_before.get(p))
    assert rebuilt == RESUBMITTED


def test_the_rebuilt_marts_equal_a_build_from_scratch(after_resubmission, tmp_path):
    root, _, _ = after_resubmission
    _landing(tmp_path, with_resubmission=True)
    assert run_pipeline(_settings(tmp_path)).exit_code == 0
    # the markers outside the range are the only difference, so compare with them taken off
    with duckdb.connect(str(root / "data" / "warehouse.duckdb")) as con:
        con.execute(f"UPDATE marts.mart_sufficiency SET la_name = replace(la_name, '{MARKER}', '')")
    assert _marts(root / "data" / "warehouse.duckdb") == _marts(tmp_path / "data" / "warehouse.duckdb")


def test_a_rerun_with_nothing_new_builds_no_month(after_resubmission):
    root, _, _ = after_resubmission
    report = run_pipeline(_settings(root))
    assert report.months_built == []
    assert "no month's marts were behind its returns" in report.text
    # nothing new since the last published run: no dbt, no gate, no publish (decision L3)
    assert "Nothing new to publish, and nothing rebuilt" in report.text
    assert set(report.seconds) == {"ingest_returns"}


def test_a_rerun_with_a_changed_setting_runs_the_gate_and_publish_again(after_resubmission):
    root, _, _ = after_resubmission
    report = run_pipeline(_settings(root).with_overrides(disclosure_threshold=3))
    assert report.months_built == [] and report.exit_code == 0, report.text
    assert {"fostering_dbt_models", "quality_gate", "published_marts"} <= set(report.seconds)
    assert "Published version" in report.text  # fewer cells withheld: a new publish


def test_a_full_refresh_rebuilds_every_month_from_scratch(before_resubmission, tmp_path):
    built, first = before_resubmission
    shutil.copytree(built, tmp_path / "copy", symlinks=True)
    report = run_pipeline(_settings(tmp_path / "copy"), full_refresh=True)
    assert report.months_built == first.months_built
    _keep_run_results(tmp_path / "copy", "full-refresh")
    filters, _ = _monthly_model_tests(tmp_path / "copy", "full-refresh")
    assert set(filters) == _tested_monthly_models()
    assert {w for ws in filters.values() for w in ws} == {"1 = 1"}  # every month tested
    assert _staging_test_filters(tmp_path / "copy", "full-refresh") == {"1 = 1", "is_current"}
    assert "full refresh of every month" in report.text
    assert _marts(tmp_path / "copy" / "data" / "warehouse.duckdb") == _marts(built / "data" / "warehouse.duckdb")


def test_a_backfill_from_the_command_line_rebuilds_exactly_the_months_asked(before_resubmission, tmp_path):
    built, _ = before_resubmission
    shutil.copytree(built, tmp_path / "copy", symlinks=True)
    warehouse = tmp_path / "copy" / "data" / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        before = dict(con.execute("SELECT strftime(period, '%Y-%m'), built_at FROM ops.monthly_builds").fetchall())
    result = fostering("backfill", "--from", "2021-10", "--to", "2021-12", "--warehouse", warehouse)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Built the months 2021-10 to 2021-12 with dbt" in result.stdout
    with duckdb.connect(str(warehouse), read_only=True) as con:
        after = dict(con.execute("SELECT strftime(period, '%Y-%m'), built_at FROM ops.monthly_builds").fetchall())
    assert sorted(p for p in after if after[p] != before[p]) == ["2021-10", "2021-11", "2021-12"]


def test_a_backfill_refuses_months_that_are_not_partitions(tmp_path):
    result = fostering("backfill", "--from", "2023-13", "--to", "2023-12", "--warehouse", tmp_path / "w.duckdb", check=False)
    assert result.returncode == 2 and "2023-13 is not a reporting month" in result.stderr
    result = fostering("backfill", "--from", "2023-06", "--to", "2023-01", "--warehouse", tmp_path / "w.duckdb", check=False)
    assert result.returncode == 2 and "is after" in result.stderr


# --- the rebuild sensor ------------------------------------------------------------------------


def _sensor_tick(root: Path, instance: dg.DagsterInstance):
    resources = {"warehouse": default_resources(_settings(root))["warehouse"]}
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        return rebuild_sensor(context)


def test_the_rebuild_sensor_asks_for_one_run_over_the_months_a_resubmission_touches(before_resubmission, tmp_path):
    built, _ = before_resubmission
    root = tmp_path / "copy"
    shutil.copytree(built, root, symlinks=True)
    instance = dg.DagsterInstance.ephemeral()
    assert isinstance(_sensor_tick(root, instance), dg.SkipReason)  # up to date

    shutil.copytree(SAMPLE / "bolton" / "resubmissions", root / "landing" / "bolton" / "resubmissions")
    from orchestration.ingest import ingest_landing

    ingest_landing(_settings(root))  # as the landing sensor's ingest run would
    request = _sensor_tick(root, instance)
    assert isinstance(request, dg.RunRequest)
    assert request.tags == {**range_tags(dg.PartitionKeyRange("2022-06", "2023-05")), "fostering/pending_months": "12"}
    assert request.run_key == _sensor_tick(root, instance).run_key  # the same state never launches twice


def test_the_rebuild_sensor_waits_while_returns_are_being_ingested(before_resubmission):
    built, _ = before_resubmission
    instance = dg.DagsterInstance.ephemeral()
    job = defs.resolve_job_def("ingest_job")
    instance.create_run_for_job(job, status=dg.DagsterRunStatus.STARTED)
    skipped = _sensor_tick(built, instance)
    assert isinstance(skipped, dg.SkipReason) and "waiting for 1 ingest run" in skipped.skip_message


# --- definitions -------------------------------------------------------------------------------


def test_monthly_partitions_start_at_the_setting_and_include_the_current_month():
    keys = monthly_partitions.get_partition_keys(current_time=dt.datetime(2026, 11, 22))
    assert keys[0] == "2016-04" and keys[-1] == "2026-11"


def test_the_months_dbt_builds_are_the_first_and_last_month_of_the_range():
    first, last = (monthly_partitions.time_window_for_partition_key(k) for k in ("2022-06", "2023-05"))
    window = dg.TimeWindow(first.start, last.end)  # what a run over the range sees
    assert months_of(window) == (dt.date(2022, 6, 1), dt.date(2023, 5, 1))


def test_range_covering_is_clipped_to_the_partitions():
    assert range_covering([dt.date(2010, 1, 1), dt.date(2021, 5, 1), dt.date(2021, 4, 1)]) == dg.PartitionKeyRange("2021-04", "2021-05")
    assert range_covering([dt.date(2010, 1, 1)]) is None
    assert range_covering([]) is None


def test_the_monthly_models_are_partitioned_and_backfill_in_one_run():
    graph = defs.resolve_asset_graph()
    monthly = {k.to_user_string() for k in graph.get_all_asset_keys() if graph.get(k).partitions_def == monthly_partitions}
    assert {f"marts/{m}" for m in MONTHLY_MARTS} <= monthly
    assert "marts/mart_submission_status" not in monthly and "staging/stg_placements" not in monthly
    assert graph.get(dg.AssetKey(["marts", "mart_sufficiency"])).backfill_policy == dg.BackfillPolicy.single_run()
    assert defs.resolve_job_def("marts_job").partitions_def == monthly_partitions


def test_the_monthly_publish_rebuilds_every_month():
    schedule = defs.resolve_schedule_def("monthly_publish")
    with dg.build_schedule_context(scheduled_execution_time=dt.datetime(2026, 11, 20, 6)) as context:
        request = schedule.evaluate_tick(context).run_requests[0]
    assert request.tags["dagster/asset_partition_range_start"] == "2016-04"
    assert request.tags["dagster/asset_partition_range_end"] == monthly_partitions.get_last_partition_key()
