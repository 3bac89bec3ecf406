"""The main job as the `fostering run` command runs it: Dagster in-process, quiet, summarised.

Runs the same assets a deployment schedules, against an ephemeral Dagster
instance, and turns their materialisation metadata into the short summary an
operator reads.
"""

from __future__ import annotations

import time

import dagster as dg

from orchestration.assets.ingest import LEDGER_KEY, ingest_returns
from orchestration.resources import default_resources
from orchestration.settings import Settings

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def run_pipeline(settings: Settings) -> str:
    """Ingest everything new in the landing folder; return the summary to print."""
    settings.require_real_key()
    started = time.perf_counter()
    result = dg.materialize([ingest_returns], resources=default_resources(settings), run_config=QUIET, raise_on_error=False)
    if not result.success:
        _raise_step_failure(result)
    metadata = {
        mat.asset_key: mat.metadata for mat in result.asset_materializations_for_node("ingest_returns")
    }[LEDGER_KEY]
    return summarise(metadata, settings, time.perf_counter() - started)


def _raise_step_failure(result: dg.ExecuteInProcessResult) -> None:
    """Re-raise what the step raised, so the command can say it plainly."""
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data.user_failure_data is None:
            error = event.step_failure_data.error
            cause = error.cause or error
            raise RuntimeError(f"{cause.cls_name}: {cause.message.strip()}")
    raise RuntimeError("the pipeline run failed")


def summarise(metadata: dict, settings: Settings, seconds: float) -> str:
    count = lambda name: metadata[f"returns_{name}"].value  # noqa: E731
    outcomes = metadata["outcomes"].value
    rejected = [o for o in outcomes if o["status"] == "rejected"]
    lines = [
        f"Ingested the landing folder {settings.landing} into {settings.warehouse} in {seconds:.1f}s:",
        f"  {count('accepted')} return(s) accepted",
        f"  {count('accepted_with_warnings')} accepted with warnings",
        f"  {count('rejected')} rejected",
        f"  {count('already_received')} already received before (unchanged)",
        f"  {metadata['files_ignored'].value} file(s) ignored (not returns)",
        f"  {sum(o['placement_rows'] for o in outcomes)} placement rows loaded",
        f"Findings reports (HTML and JSON, one per return): {settings.findings_dir}",
    ]
    lines += [f"  rejected: {o['source']} -> {o['report']}" for o in rejected[:20]]
    if len(rejected) > 20:
        lines.append(f"  ... and {len(rejected) - 20} more rejected (see the findings folder)")
    if settings.uses_development_key:
        lines.append("Note: identifiers were pseudonymised with the DEVELOPMENT key (fine for the synthetic sample, never for real data).")
    return "\n".join(lines)
