"""The dbt resource starts each dbt command without dagster-dbt's version probe or in-process adapter.

Both cost seconds before every build (orchestration/dbt_cli.py). They are private methods
of dagster-dbt, so these tests also fail if an upgrade renames them: the override would
then silently do nothing.
"""

import functools
from importlib.metadata import version

import dagster_dbt.core.resource as dagster_dbt_resource
import pytest
from dagster_dbt import DbtCliResource
from packaging.version import Version

from orchestration.dbt_cli import FosteringDbtCli
from orchestration.dbt_project import dbt_cli


def _must_not_run(*args, **kwargs):
    raise AssertionError("dagster-dbt's start-up work ran")


def test_the_overridden_methods_still_exist_in_dagster_dbt():
    assert isinstance(vars(DbtCliResource)["_cli_version"], functools.cached_property)
    assert callable(vars(DbtCliResource)["_initialize_dbt_core_adapter"])


def test_the_pipeline_uses_the_resource_and_it_knows_dbts_version():
    cli = dbt_cli()
    assert isinstance(cli, FosteringDbtCli)
    assert cli._cli_version == Version(version("dbt-core"))
    assert cli._initialize_dbt_core_adapter(["build"]) is None


@pytest.mark.slow
def test_a_dbt_command_runs_without_a_version_probe_or_an_adapter(monkeypatch, tmp_path):
    monkeypatch.setattr(dagster_dbt_resource, "check_output", _must_not_run)  # `dbt --version`
    monkeypatch.setattr(DbtCliResource, "_initialize_dbt_core_adapter", _must_not_run)
    invocation = dbt_cli().cli(["parse", "--quiet"], target_path=tmp_path / "target")
    invocation.wait()
    assert invocation.is_successful()
    assert (tmp_path / "target" / "manifest.json").exists()
