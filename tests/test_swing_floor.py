"""FOSTERING_SWING_MIN_CHANGE, the swing check's absolute floor (decisions.md W1): read and checked with
the other settings, a gate parameter, and part of a run's inputs. What it does to the check itself is
tested on the suite's own query in test_quality_gate.py."""

import shutil

import pytest

from orchestration.quality.gate import gate_parameters
from orchestration.settings import ConfigurationError, load_settings
from orchestration.up_to_date import inputs_fingerprint
from orchestration.warehouse import connect, ensure_schema
from tests.conftest import PROJECT_ROOT


def test_the_floor_is_a_whole_number_of_households_with_a_default_of_3():
    assert load_settings({}).swing_min_change == 3
    assert load_settings({"FOSTERING_SWING_MIN_CHANGE": " 0 "}).swing_min_change == 0
    assert load_settings({"FOSTERING_SWING_MIN_CHANGE": ""}).swing_min_change == 3  # empty counts as unset
    assert gate_parameters(load_settings({"FOSTERING_SWING_MIN_CHANGE": "7"}))["swing_min_change"] == 7


@pytest.mark.parametrize("value", ["three", "-1", "2.5"])
def test_a_bad_floor_is_named_in_a_plain_message(value):
    with pytest.raises(ConfigurationError) as error:
        load_settings({"FOSTERING_SWING_MIN_CHANGE": value, "FOSTERING_PUBLISH_KEEP": "five"})
    message = str(error.value)
    assert f"FOSTERING_SWING_MIN_CHANGE must be a whole number of households, 0 or more (found '{value}')" in message
    assert "FOSTERING_PUBLISH_KEEP" in message  # named with every other bad setting


def test_the_floor_changes_a_runs_inputs(tmp_path):
    shutil.copytree(PROJECT_ROOT / "expectations", tmp_path / "expectations")
    warehouse = tmp_path / "warehouse.duckdb"
    with connect(warehouse) as con:
        ensure_schema(con)
    env = {"FOSTERING_WAREHOUSE": str(warehouse), "FOSTERING_EXPECTATIONS_DIR": str(tmp_path / "expectations")}
    before = inputs_fingerprint(load_settings(env))
    assert inputs_fingerprint(load_settings({**env, "FOSTERING_SWING_MIN_CHANGE": "3"})) == before  # the default
    assert inputs_fingerprint(load_settings({**env, "FOSTERING_SWING_MIN_CHANGE": "5"})) != before
