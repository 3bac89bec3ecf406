"""The code location loads, and holds what the UI and the deployment expect."""

import dagster as dg

from orchestration.definitions import defs


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)


RAW_TABLES = ("submission", "recruitment", "households", "deregistrations", "withdrawals", "placements", "placement_requests", "finance")
MARTS = (
    "mart_recruitment", "mart_sufficiency", "mart_sufficiency_by_need", "mart_cost_per_placement",
    "mart_cost_comparison", "mart_finance", "mart_benchmark", "mart_submission_status",
)


def _graph():
    return defs.resolve_asset_graph()


def test_ingest_assets_are_the_ledger_findings_and_every_raw_table():
    keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert {"ops/submissions", "ops/findings", *(f"raw/{t}" for t in RAW_TABLES)} <= keys


def test_every_mart_is_an_asset_in_the_marts_group():
    graph = _graph()
    for mart in MARTS:
        node = graph.get(dg.AssetKey(["marts", mart]))
        assert node.group_name == "marts"
        assert node.owners == ["team:fostering-data"]


def test_dbt_sources_hang_off_the_ingest_assets():
    graph = _graph()
    for table in RAW_TABLES:
        parents = graph.get(dg.AssetKey(["staging", f"stg_{table}"])).parent_keys
        assert dg.AssetKey(["raw", table]) in parents
    assert dg.AssetKey(["ops", "submissions"]) in graph.get(dg.AssetKey(["staging", "stg_submissions"])).parent_keys


def test_groups_mirror_the_layers():
    groups = {node.group_name for node in _graph().asset_nodes}
    assert {"ingest", "reference", "staging", "intermediate", "marts"} <= groups


def test_dbt_tests_are_asset_checks_on_the_marts():
    checked = {key.asset_key for key in _graph().asset_check_keys}
    assert all(dg.AssetKey(["marts", m]) in checked for m in MARTS)


def test_job_sensor_and_resources_are_registered():
    assert defs.resolve_job_def("ingest_job") is not None
    assert defs.resolve_job_def("pipeline_job") is not None
    assert defs.resolve_sensor_def("landing_sensor") is not None
    assert {"warehouse", "landing", "pseudonym_key", "dbt"} <= set(defs.resources)
