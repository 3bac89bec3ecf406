"""The quality gate as blocking Dagster asset checks: one check per expectation suite.

All suites run in one op (one read-only DuckDB session, one ephemeral Great
Expectations context), after every dbt model of the run, because the staging
suites compare staged returns with the intermediate tables too. A suite with a
failed blocking expectation fails with severity ERROR, which stops the publish;
one with only failed warnings fails with severity WARN, which is shown and
reported to the LA but does not block.

A run that rebuilt some months (a range of monthly partitions) has the staging
suites check those months only, carrying forward the last gate's failures in
the others (orchestration/quality/gate.py, `run_gate`); the marts are always
checked whole. A run over every month checks everything.

The checks on the marts are blocking in Dagster's sense (the publish waits for
them); those on staging are not, since blocking them would make the monthly
models wait for a check that reads them. The publish refuses on an ERROR from
either (orchestration/assets/publish.py reads the gate's whole verdict).
"""

import json
from pathlib import Path

import dagster as dg

from orchestration import progress
from orchestration.quality.feedback import deliver_feedback
from orchestration.partitions import rebuilt_months
from orchestration.quality.gate import load_suites, run_gate, staged_months
from orchestration.resources import WarehouseResource
from orchestration.settings import load_settings

SUITES = load_suites()
CHECK_NAME = "quality_gate"


def gate_results_path(data_dir: Path, run_id: str | None = None) -> Path:
    return Path(data_dir) / "quality" / (f"gate-{run_id}.json" if run_id else "latest.json")


def _summary(suite) -> dict:
    return {
        "suite": suite.suite,
        "asset_key": suite.asset_key,
        "rows": suite.rows,
        "passed": suite.passed,
        "errors": suite.errors,
        "warnings": suite.warnings,
        "months": suite.months,
        "failed": [
            {"expectation": o.expectation, "column": o.column, "protects": o.protects, "blocking": o.blocking,
             "unexpected_count": o.unexpected_count, "failing_keys": o.failing_keys[:10]}
            for o in suite.outcomes if not o.success
        ],
    }


@dg.multi_asset_check(
    name=CHECK_NAME,
    can_subset=True,  # a job (or the UI) may run the suites of some assets only
    pool="fostering_warehouse",
    specs=[
        dg.AssetCheckSpec(
            CHECK_NAME,
            asset=dg.AssetKey(suite.asset_key),
            blocking=suite.asset_key[0] == "marts",
            description=f"Great Expectations suite expectations/{suite.name}.json: errors block the publish, warnings are reported.",
        )
        for suite in SUITES
    ],
)
def quality_gate(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
    settings = load_settings().with_overrides(warehouse=warehouse.path, data_dir=warehouse.data_dir)
    selected = {key.asset_key for key in context.selected_asset_check_keys}
    suites = [suite for suite in SUITES if dg.AssetKey(suite.asset_key) in selected]
    months = rebuilt_months(context.run.tags)
    latest = gate_results_path(settings.data_dir)
    previous = json.loads(latest.read_text(encoding="utf-8"))["suites"] if months and latest.exists() else None
    with progress.current().stage(f"Quality gate: {len(suites)} expectation suites"):
        outcomes = run_gate(Path(warehouse.path), settings, suites, months=months, previous=previous)
    summaries = [_summary(s) for s in outcomes]
    checked = staged_months(outcomes)
    # latest.json is the whole gate's verdict (what a publish outside this run relies on): only a full gate writes it
    paths = [gate_results_path(settings.data_dir, context.run.run_id)]
    if len(suites) == len(SUITES):
        paths.append(gate_results_path(settings.data_dir))
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        verdict = {"run_id": context.run.run_id, "staging_months": checked, "suites": summaries}
        path.write_text(json.dumps(verdict, indent=2, default=str), encoding="utf-8")
    if len(suites) == len(SUITES):  # feedback replaces the last gate's, so only a whole gate gives it
        delivered = deliver_feedback(outcomes, Path(warehouse.path), settings.data_dir, checked)
        context.log.info(f"quality gate: {delivered} finding(s) about LAs' data written into their findings reports")
    for suite, summary in zip(outcomes, summaries):
        yield dg.AssetCheckResult(
            asset_key=dg.AssetKey(suite.asset_key),
            check_name=CHECK_NAME,
            passed=suite.errors == 0 and suite.warnings == 0,
            severity=dg.AssetCheckSeverity.ERROR if suite.errors else dg.AssetCheckSeverity.WARN,
            metadata={
                "rows_checked": suite.rows,
                "expectations": len(suite.outcomes),
                "errors": suite.errors,
                "warnings": suite.warnings,
                "failed_expectations": dg.MetadataValue.json(summary["failed"]),
            },
        )
