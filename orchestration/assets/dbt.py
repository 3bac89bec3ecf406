"""The dbt models as Dagster assets, downstream of the ingest assets.

Two sets from one manifest. The period-grained models (the incremental ones:
intermediate tables and marts) are partitioned by reporting month, so a run
for a range of months rebuilds just those months; the rest (reference seeds,
staging views, the month spine and mart_submission_status, whose lateness
changes with the day for every month) are built whole.

Naming and grouping live in the translator: dbt sources map onto the ingest
asset keys (`ops/submissions`, `raw/<table>`), models are keyed by their
layer (`staging/…`, `intermediate/…`, `marts/…`) and grouped the same way,
and dbt tests surface as asset checks.
"""

# No `from __future__ import annotations`: Dagster reads these annotations at runtime.
import contextlib
import datetime as dt
import os
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from orchestration import progress
from orchestration.dbt_project import dbt_project, dbt_run_paths
from orchestration.monthly_builds import record_built
from orchestration.partitions import is_full_refresh, monthly_partitions, months_of, rebuilt_months
from orchestration.resources import WarehouseResource
from orchestration.settings import load_settings
from orchestration.warehouse import connect, ensure_schema, writer_lock

OWNERS = ["team:fostering-data"]
MONTHLY_MODELS = "config.materialized:incremental"
# A production build runs the models and their data tests, not dbt's unit tests: those
# prove formulas on fixed inputs, so they answer the same every month and run in the
# test suite and CI instead (tests/test_dbt_unit_tests.py).
BUILD = ["build", "--exclude-resource-type", "unit_test"]
PREVIEW_ROWS = 5


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
        # seeds -> reference; models -> the folder under models/ (reference, staging, intermediate, marts)
        return "reference" if props["resource_type"] == "seed" else props["fqn"][1]


BUILT_MONTHS_ENV = "FOSTERING_DBT_BUILT_MONTHS"  # the monthly models' months: macros/build_window.sql
STAGED_MONTHS_ENV = "FOSTERING_DBT_STAGED_MONTHS"  # the staged months the staging views' tests check

MonthRange = tuple[dt.date, dt.date]


@contextlib.contextmanager
def _dbt_env(path: str, built: MonthRange | None, staged: MonthRange | None) -> Iterator[None]:
    """The environment of one dbt build, set for its process and put back after.

    dbt's profile reads the warehouse path from FOSTERING_WAREHOUSE, and the LA list from
    FOSTERING_REFERENCE_DIR: point them at this run's, as absolute paths (dbt runs in the dbt
    project's folder, so a relative path would name a file under dbt_project/).

    The build's months go in two more variables (`first/last`, unset for every month), which
    macros/build_window.sql reads only while dbt compiles, never while it parses. Passed as
    `--vars` instead, they would change dbt's command line every run, and dbt-core re-parses the
    whole project whenever the vars change (5-8 s a build); read at compile time they leave the
    parse untouched, so partial parsing stays warm from run to run (decision L5).
    """
    wanted = {
        "FOSTERING_WAREHOUSE": os.path.abspath(path),
        "FOSTERING_REFERENCE_DIR": str(load_settings().reference_dir),
        BUILT_MONTHS_ENV: _months_value(built),
        STAGED_MONTHS_ENV: _months_value(staged),
    }
    before = {name: os.environ.get(name) for name in wanted}
    _set_environ(wanted)
    try:
        yield
    finally:
        _set_environ(before)


def _months_value(months: MonthRange | None) -> str | None:
    return f"{months[0].isoformat()}/{months[1].isoformat()}" if months else None


def _set_environ(values: Mapping[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def _mart_metadata(con, table: str, first: dt.date | None, last: dt.date | None) -> dict:
    """Rows, and the first rows of the latest month built, for the mart's materialisation in the UI."""
    where = "WHERE period BETWEEN $first AND $last" if first else ""
    params = {"first": first, "last": last} if first else {}
    built = con.execute(f"SELECT count(*), max(period) FROM {table} {where}", params).fetchone()
    total = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    preview = con.execute(f"SELECT * FROM {table} WHERE period = $p LIMIT {PREVIEW_ROWS}", {"p": built[1]}).df()
    return {
        "rows_built": built[0],
        "rows_total": total,
        "preview": dg.MetadataValue.md(preview.to_markdown(index=False) if not preview.empty else "(no rows)"),
    }


def _build(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: WarehouseResource,
    args: list[str],
    *,
    monthly: bool,
    staged: MonthRange | None = None,
    period: MonthRange | None = None,
):
    """`dbt <args>` holding the writer lock; the marts' materialisations carry rows and a preview.

    `period` is the months the monthly models rebuild and their tests check, `staged` the months
    the staging views' tests check; None: every month (see `_dbt_env`).

    The marts' events are held back until dbt has exited: DuckDB lets no other
    process read the file while dbt writes it. dbt's run_results.json is kept as
    `run_results.<whole|monthly>.json` too, so the last build of each set can be read
    after the other has run (which tests each ran, over which rows).
    """
    held = []
    path = Path(warehouse.path)
    with writer_lock(path), _dbt_env(warehouse.path, built=period, staged=staged):
        # One target folder per data folder, reused by every run (and its partial parse
        # kept warm), not a new folder under dbt_project/target/ per invocation.
        target, logs = dbt_run_paths(Path(warehouse.data_dir))
        what = f"dbt: the months {period[0]:%Y-%m} to {period[1]:%Y-%m}" if period else ("dbt: every month" if monthly else "dbt: the models over the whole history")
        with progress.current().counter(what, None, "models and tests done") as done:  # dbt's own count is not known in advance
            for event in dbt.cli([*args, "--log-path", str(logs)], context=context, target_path=target).stream():
                done.advance()
                key = context.asset_key_for_output(event.output_name) if isinstance(event, dg.Output) else None
                if key is not None and key.path[0] == "marts":
                    held.append((key, event))
                else:
                    yield event
        results = target / "run_results.json"
        if results.exists():
            shutil.copyfile(results, target / f"run_results.{'monthly' if monthly else 'whole'}.json")
        first, last = period or (None, None)
        with connect(path) as con:
            if monthly:
                ensure_schema(con)  # a warehouse from before monthly builds were recorded
                built = record_built(con, first, last, context.run.run_id)
                context.log.info(f"recorded {built} month(s) as built from their current returns")
            for key, event in held:
                meta = _mart_metadata(con, f"marts.{key.path[-1]}", first, last)
                yield event.with_metadata({**event.metadata, **meta})


def build_whole(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    """`dbt build` of the selected unpartitioned models: seeds, staging views, the status mart.

    In a run over a range of months, the staging views' data tests check those months' rows only
    (`staged`): a new return is staged in its own month, which is the first of the range, and
    every other month's rows passed their tests before.
    """
    yield from _build(context, dbt, warehouse, BUILD, monthly=False, staged=rebuilt_months(context.run.tags))


def build_months(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    """`dbt build` of the selected monthly models for the run's range of months only.

    Their data tests check the same months (the `__built_months__` condition of dbt_project.yml's
    `data_tests`), and every month on a full refresh, which passes no range.

    A run tagged as a full refresh rebuilds the tables from scratch over every
    period there is (after a change to the models or the reference data).
    """
    if is_full_refresh(context.run.tags):
        yield from _build(context, dbt, warehouse, [*BUILD, "--full-refresh"], monthly=True)
        return
    months = months_of(context.partition_time_window)
    context.log.info(f"rebuilding the months {months[0]:%Y-%m} to {months[1]:%Y-%m}")
    yield from _build(context, dbt, warehouse, BUILD, monthly=True, period=months)


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=FosteringDbtTranslator(),
    exclude=MONTHLY_MODELS,
    pool="fostering_warehouse",
)
def fostering_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    yield from build_whole(context, dbt, warehouse)


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=FosteringDbtTranslator(),
    select=MONTHLY_MODELS,
    partitions_def=monthly_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),  # a range of months is one dbt run, never one per month
    pool="fostering_warehouse",
)
def fostering_dbt_monthly(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    yield from build_months(context, dbt, warehouse)
