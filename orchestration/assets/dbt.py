"""The dbt models as Dagster assets, downstream of the ingest assets.

Naming and grouping live in the translator: dbt sources map onto the ingest
asset keys (`ops/submissions`, `raw/<table>`), models are keyed by their
layer (`staging/…`, `intermediate/…`, `marts/…`) and grouped the same way,
and dbt tests surface as asset checks.
"""

# No `from __future__ import annotations`: Dagster reads these annotations at runtime.
import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from orchestration.dbt_project import dbt_project
from orchestration.resources import WarehouseResource
from orchestration.warehouse import writer_lock

OWNERS = ["team:fostering-data"]


class FosteringDbtTranslator(DagsterDbtTranslator):
    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        kind = dbt_resource_props["resource_type"]
        if kind == "source":
            return dg.AssetKey([dbt_resource_props["source_name"], dbt_resource_props["name"]])
        return dg.AssetKey([self._layer(dbt_resource_props), dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str:
        return self._layer(dbt_resource_props)

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str]:
        return OWNERS

    @staticmethod
    def _layer(props: Mapping[str, Any]) -> str:
        # seeds -> reference; models -> the folder under models/ (staging, intermediate, marts)
        return "reference" if props["resource_type"] == "seed" else props["fqn"][1]


@contextlib.contextmanager
def _warehouse_env(path: str) -> Iterator[None]:
    """dbt's profile reads the warehouse path from FOSTERING_WAREHOUSE: point it at this run's warehouse."""
    before = os.environ.get("FOSTERING_WAREHOUSE")
    os.environ["FOSTERING_WAREHOUSE"] = path
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("FOSTERING_WAREHOUSE", None)
        else:
            os.environ["FOSTERING_WAREHOUSE"] = before


def build_with_lock(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    """`dbt build` holding the warehouse's writer lock, so no ingest writes while dbt does."""
    with writer_lock(Path(warehouse.path)), _warehouse_env(warehouse.path):
        yield from dbt.cli(["build"], context=context).stream()


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=FosteringDbtTranslator(),
    pool="fostering_warehouse",
)
def fostering_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    yield from build_with_lock(context, dbt, warehouse)
