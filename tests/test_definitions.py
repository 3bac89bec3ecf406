"""The code location loads, and holds what the UI and the deployment expect."""

import dagster as dg

from orchestration.definitions import defs


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)


def test_ingest_assets_are_the_ledger_and_every_raw_table():
    keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert keys == {
        "ops/submissions",
        *(f"raw/{t}" for t in ("submission", "recruitment", "households", "deregistrations", "withdrawals", "placements", "placement_requests", "finance")),
    }


def test_job_sensor_and_resources_are_registered():
    assert defs.resolve_job_def("ingest_job") is not None
    assert defs.resolve_sensor_def("landing_sensor") is not None
    assert {"warehouse", "landing", "pseudonym_key"} <= set(defs.resources)
