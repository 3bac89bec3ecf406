"""Ingest through Dagster: the multi-asset against a tmp warehouse, and the landing sensor."""

import json
import shutil

import dagster as dg

from orchestration.assets.ingest import LEDGER_KEY, ingest_returns
from orchestration.resources import default_resources
from orchestration.returns.writers import write_return
from orchestration.sensors import landing_sensor
from orchestration.warehouse import connect, table_counts
from tests.fixtures.returns import good_tables


def _ledger_metadata(result):
    return {m.asset_key: m.metadata for m in result.asset_materializations_for_node("ingest_returns")}[LEDGER_KEY]


def test_materialize_ingests_the_landing_folder(settings, good_return):
    result = dg.materialize([ingest_returns], resources=default_resources(settings))
    assert result.success
    meta = _ledger_metadata(result)
    assert meta["returns_accepted"].value == 1
    assert table_counts(settings.warehouse)["raw.placements"] == 4
    with connect(settings.warehouse, read_only=True) as con:
        assert con.execute("SELECT status, is_current, la_code FROM ops.submissions").fetchall() == [("accepted", True, "E08000009")]


def test_materialize_with_named_paths_ingests_only_those(settings, landing, good_return):
    other = write_return(good_tables(period="2023-08", submitted_at="2023-09-04"), landing / "trafford" / "2023-08.zip", "zip")
    config = {"ops": {"ingest_returns": {"config": {"paths": [str(other)]}}}}
    result = dg.materialize([ingest_returns], resources=default_resources(settings), run_config=config)
    assert result.success
    with connect(settings.warehouse, read_only=True) as con:
        assert con.execute("SELECT strftime(period, '%Y-%m') FROM ops.submissions").fetchall() == [("2023-08",)]


def _one_tick(context_cursor, landing_resource):
    context = dg.build_sensor_context(cursor=context_cursor, resources={"landing": landing_resource})
    result = landing_sensor(context)
    requests = list(result) if result is not None else []
    return requests, context.cursor


def _tick(context_cursor, landing_resource):
    """Two ticks: the sensor acts on a new or changed file once it has held still for one tick."""
    first, cursor = _one_tick(context_cursor, landing_resource)
    second, cursor = _one_tick(cursor, landing_resource)
    return first + second, cursor


def test_sensor_waits_for_a_file_being_copied_to_hold_still(settings, landing, good_return):
    resource = default_resources(settings)["landing"]
    requests, cursor = _one_tick(None, resource)
    assert requests == []  # just arrived: noted, not yet ingested
    with good_return.open("ab") as growing:  # still being written at the next tick
        growing.write(b"more")
    requests, cursor = _one_tick(cursor, resource)
    assert requests == []
    requests, cursor = _one_tick(cursor, resource)  # held still for a whole interval: one run, for the whole file
    assert len(requests) == 1 and requests[0].run_key == json.loads(cursor)[str(good_return)][2]
    assert _one_tick(cursor, resource)[0] == []


def test_sensor_one_run_per_new_file_keyed_by_checksum(settings, landing, good_return):
    resource = default_resources(settings)["landing"]
    requests, cursor = _tick(None, resource)
    assert len(requests) == 1
    digest = json.loads(cursor)[str(good_return)][2]
    assert requests[0].run_key == digest
    assert requests[0].run_config["ops"]["ingest_returns"]["config"]["paths"] == [str(good_return)]

    # already seen, unchanged: nothing
    assert _tick(cursor, resource)[0] == []

    # a new file: one run for it only
    second = write_return(good_tables(period="2023-08", submitted_at="2023-09-04"), landing / "trafford" / "2023-08.xlsx", "xlsx")
    requests, cursor = _tick(cursor, resource)
    assert [r.run_config["ops"]["ingest_returns"]["config"]["paths"] for r in requests] == [[str(second)]]

    # a changed file: a new run with a new key
    changed = good_tables()
    changed["recruitment"].loc[0, "enquiries"] = 21
    write_return(changed, good_return, "zip")
    requests, cursor = _tick(cursor, resource)
    assert len(requests) == 1 and requests[0].run_key != digest


def test_sensor_ignores_a_touched_but_unchanged_file(settings, landing, good_return, tmp_path):
    resource = default_resources(settings)["landing"]
    _, cursor = _tick(None, resource)
    copy = tmp_path / "copy.zip"
    shutil.copy(good_return, copy)
    shutil.copy(copy, good_return)  # rewrites the file: new mtime, same bytes
    assert _tick(cursor, resource)[0] == []
