"""The dbt command line as a Dagster resource, without dagster-dbt's two start-up costs.

Before each `dbt` command, dagster-dbt's `DbtCliResource.cli` does two things this
pipeline never uses, in the Dagster process, while nothing else can happen:

- it runs `dbt --version` (a second dbt process, 2-3 s, once per resource) to learn
  whether the executable is dbt Core or dbt Fusion. The dbt run here is always the
  dbt-core installed beside this Python (`dbt_project.DBT_EXECUTABLE`), so its
  version is read from the package metadata instead.
- it loads the dbt project, the profile and dbt's macros and registers an adapter
  (1.5-3.5 s per command), a read-only handle used only by `fetch_row_counts()` and
  `fetch_column_metadata()`, which the marts' materialisations do not call (their rows
  and a preview come from the warehouse after dbt exits: `assets/dbt.py`).

Both are private methods of the pinned dagster-dbt (0.29); `tests/test_dbt_cli.py`
fails if either is called, so an upgrade that renames them is noticed.
"""

from __future__ import annotations

import functools
from importlib.metadata import version as installed_version
from typing import Any

from dagster_dbt import DbtCliResource
from packaging.version import Version


@functools.cache
def dbt_core_version() -> Version:
    return Version(installed_version("dbt-core"))


class FosteringDbtCli(DbtCliResource):
    """`DbtCliResource` that starts each dbt command without a version probe or an in-process adapter."""

    @property
    def _cli_version(self) -> Version:  # dagster-dbt: `dbt --version` in a subprocess
        return dbt_core_version()

    def _initialize_dbt_core_adapter(self, args: Any) -> None:  # dagster-dbt: only for row counts and columns
        return None
