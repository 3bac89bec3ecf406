"""Shared fixtures: a landing folder and warehouse in tmp_path, and settings pointing at them."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

from orchestration.returns import schema  # noqa: E402
from orchestration.settings import load_settings  # noqa: E402
from orchestration.returns.writers import write_return  # noqa: E402
from tests.fixtures.returns import good_tables  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def pytest_sessionstart(session):
    """The dbt manifest is prepared here, before any test imports the Dagster definitions."""
    from orchestration.dbt_project import prepare_manifest

    prepare_manifest()


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    folder = tmp_path / "landing"
    folder.mkdir()
    return folder


@pytest.fixture
def settings(tmp_path: Path, landing: Path):
    return load_settings({"FOSTERING_LANDING": str(landing), "FOSTERING_WAREHOUSE": str(tmp_path / "wh" / "warehouse.duckdb")})


@pytest.fixture
def good_return(landing: Path) -> Path:
    return write_return(good_tables(), landing / "trafford" / "2023-09.zip", "zip")


# A contract 1.1 that adds one optional column: a new version is a data change.
EXTRA_COLUMN = {
    "name": "short_break",
    "type": "code",
    "code_list": "yes_no",
    "required": False,
    "description": "The placement is a short break (respite) placement (Y/N)",
}


@pytest.fixture
def contracts_with_v11(tmp_path, monkeypatch):
    """A contracts folder holding 1.0 as shipped and a 1.1 with one extra optional column."""
    schema.load_contract.cache_clear()
    source = schema.load_contract("1.0").source
    folder = tmp_path / "contracts"
    folder.mkdir()
    shutil.copy(source, folder / source.name)
    raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    raw["version"] = "1.1"
    raw["tables"]["placements"]["columns"].append(dict(EXTRA_COLUMN))
    (folder / "monthly-return-v1.1.yaml").write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    monkeypatch.setenv("FOSTERING_CONTRACTS_DIR", str(folder))
    schema.load_contract.cache_clear()
    try:
        yield folder
    finally:
        schema.load_contract.cache_clear()
