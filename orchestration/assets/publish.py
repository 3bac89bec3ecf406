"""Publish: the marts as Parquet and CSV, disclosure-controlled, switched in atomically.

It runs only after the quality gate: in the same run Dagster's blocking checks
stop it, and on its own it refuses unless the latest gate passed. A publish
that fails leaves `latest` on the previous complete version.
"""

# No `from __future__ import annotations`: Dagster reads these annotations at runtime.
import json
from pathlib import Path

import dagster as dg

from orchestration import progress
from orchestration.checks import gate_results_path
from orchestration.publish.writer import publish as write_publish
from orchestration.report import ReportError, build_report
from orchestration.resources import PublishResource, WarehouseResource

MART_KEYS = [
    dg.AssetKey(["marts", name])
    for name in (
        "mart_recruitment", "mart_sufficiency", "mart_sufficiency_by_need", "mart_cost_per_placement",
        "mart_cost_comparison", "mart_finance", "mart_benchmark", "mart_submission_status",
    )
]


class GateNotPassed(dg.Failure):
    """The quality gate has not passed for what would be published."""


def passed_gate(data_dir: Path, run_id: str) -> list[dict]:
    """The gate's results for this run (else the latest); raise unless no blocking check failed."""
    path = next((p for p in (gate_results_path(data_dir, run_id), gate_results_path(data_dir)) if p.exists()), None)
    if path is None:
        raise GateNotPassed("the quality gate has not run: nothing is published until it has passed")
    suites = json.loads(path.read_text(encoding="utf-8"))["suites"]
    failed = [s["suite"] for s in suites if s["errors"]]
    if failed:
        raise GateNotPassed(f"blocking quality checks failed in: {', '.join(failed)}; the previous publish stays the latest")
    return suites


@dg.asset(
    key=["publish", "published_marts"],
    group_name="publish",
    pool="fostering_warehouse",
    deps=MART_KEYS,
    owners=["team:fostering-data"],
    kinds={"parquet", "csv"},
    description="Every mart as Parquet and CSV in data/published/<version>/ with manifest.json and the HTML report "
    "(report/index.html); counts of 1-5 children and figures derived from them withheld; `latest` switched atomically.",
)
def published_marts(context: dg.AssetExecutionContext, warehouse: WarehouseResource, publish: PublishResource):
    checks = passed_gate(Path(warehouse.data_dir), context.run.run_id)
    with progress.current().stage("Publishing the marts and the report"):
        result = write_publish(
            Path(warehouse.path),
            Path(publish.path),
            keep=publish.keep,
            threshold=publish.disclosure_threshold,
            checks=checks,
            skip_unchanged=True,  # re-running with nothing new leaves the latest publish as it is
            finish=lambda folder: add_report(folder, context.log),  # inside the version before `latest` moves
        )
    if result.unchanged and not (result.path / "report").exists():  # a version published before reports
        add_report(result.path, context.log)
    report = result.path / "report" / "index.html"
    return dg.MaterializeResult(
        metadata={
            "version": result.version,
            "path": dg.MetadataValue.path(str(result.path)),
            "latest": dg.MetadataValue.path(str(Path(publish.path) / "latest")),
            "rows": dg.MetadataValue.json(result.rows),
            "withheld_cells": dg.MetadataValue.json(result.withheld),
            "unchanged": result.unchanged,
            "carried": dg.MetadataValue.json(result.carried),  # marts unchanged since the previous version: hard links of its files
            "report": dg.MetadataValue.path(str(report) if report.exists() else "not built (see the run's log)"),
        }
    )


def add_report(folder: Path, log) -> None:
    """Build the HTML report into a publish's folder; a report that fails is logged, never blocks the publish."""
    try:
        built = build_report(folder)
    except ReportError as exc:
        log.warning(f"the report could not be built ({exc}); the publish goes ahead without it")
        return
    carried = f", {built.carried} carried from {built.carried_from} (inputs unchanged)" if built.carried else ""
    log.info(f"report: {len(built.pages)} pages ({built.rendered} rendered{carried}), {built.charts} charts in {built.seconds:.1f}s")

