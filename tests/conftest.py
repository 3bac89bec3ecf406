"""Shared fixtures: a landing folder and warehouse in tmp_path, and settings pointing at them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

from orchestration.settings import load_settings  # noqa: E402
from orchestration.returns.writers import write_return  # noqa: E402
from tests.fixtures.returns import good_tables  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parent.parent


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
