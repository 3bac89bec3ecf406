"""A run with nothing to do is recognised by its inputs' fingerprint (decision L3), and anything a
build, the gate or the publish reads changes it. The whole run is tested in test_partitions.py."""

import os
import shutil

import pytest

from orchestration.settings import load_settings
from orchestration.up_to_date import inputs_fingerprint, nothing_to_do, record_complete
from orchestration.warehouse import connect, ensure_schema
from tests.conftest import PROJECT_ROOT


@pytest.fixture
def inputs(tmp_path):
    shutil.copytree(PROJECT_ROOT / "dbt_project" / "seeds", tmp_path / "reference")
    shutil.copytree(PROJECT_ROOT / "expectations", tmp_path / "expectations")
    warehouse = tmp_path / "warehouse.duckdb"
    with connect(warehouse) as con:
        ensure_schema(con)
    env = {
        "FOSTERING_WAREHOUSE": str(warehouse),
        "FOSTERING_REFERENCE_DIR": str(tmp_path / "reference"),
        "FOSTERING_EXPECTATIONS_DIR": str(tmp_path / "expectations"),
    }
    return tmp_path, env


def _touch_later(path):
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_a_run_is_skipped_only_after_a_complete_run_with_the_same_inputs(inputs):
    _, env = inputs
    settings = load_settings(env)
    fingerprint = inputs_fingerprint(settings)
    assert fingerprint == inputs_fingerprint(settings)  # stable
    assert not nothing_to_do(settings, fingerprint)  # no complete run recorded yet
    record_complete(settings, fingerprint)
    assert nothing_to_do(settings, fingerprint)
    assert not nothing_to_do(settings, None)
    assert inputs_fingerprint(load_settings({"FOSTERING_WAREHOUSE": str(inputs[0] / "none.duckdb")})) is None


@pytest.mark.parametrize("change", ["reference file", "expectation suite", "threshold", "swing", "returns"])
def test_anything_a_build_the_gate_or_the_publish_reads_changes_the_fingerprint(inputs, change):
    root, env = inputs
    before = inputs_fingerprint(load_settings(env))
    if change == "reference file":
        _touch_later(root / "reference" / "local_authorities.csv")
    elif change == "expectation suite":
        _touch_later(root / "expectations" / "mart_sufficiency.json")
    elif change == "threshold":
        env = {**env, "FOSTERING_DISCLOSURE_THRESHOLD": "3"}
    elif change == "swing":
        env = {**env, "FOSTERING_SWING_THRESHOLD": "0.3"}
    else:
        with connect(root / "warehouse.duckdb") as con:
            con.execute(
                "INSERT INTO ops.submissions (submission_id, source_path, received_at, status, errors, warnings, is_current) "
                "VALUES ('abc', 'x.xlsx', now(), 'rejected', 1, 0, true)"
            )
    assert inputs_fingerprint(load_settings(env)) != before
