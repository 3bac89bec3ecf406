"""The main job as the `fostering run` command runs it: Dagster in-process, quiet, summarised.

Runs the same assets a deployment schedules, against an ephemeral Dagster
instance, and turns their materialisation metadata into the short summary an
operator reads.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time

import dagster as dg

from orchestration.assets.ingest import LEDGER_KEY, ingest_returns
from orchestration.dbt_project import prepare_manifest
from orchestration.resources import default_resources
from orchestration.settings import Settings
from orchestration.warehouse import connect

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def run_pipeline(settings: Settings) -> str:
    """Ingest everything new in the landing folder, build the marts; return the summary to print."""
    settings.require_real_key()
    prepare_manifest()
    from orchestration.assets.dbt import fostering_dbt_models  # needs the manifest prepared above

    started = time.perf_counter()
    instance = dg.DagsterInstance.ephemeral()
    log_path = settings.data_dir / "logs" / f"run-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w", encoding="utf-8") as log, contextlib.redirect_stdout(log):  # dbt's own log lines
        result = dg.materialize(
            [ingest_returns, fostering_dbt_models],
            resources=default_resources(settings),
            run_config=QUIET,
            instance=instance,
            raise_on_error=False,
        )
    if not result.success:
        _raise_step_failure(result, log_path)
    metadata = {
        mat.asset_key: mat.metadata for mat in result.asset_materializations_for_node("ingest_returns")
    }[LEDGER_KEY]
    steps = {s.step_key: s.end_time - s.start_time for s in instance.get_run_step_stats(result.run_id) if s.end_time}
    lines = [summarise(metadata, settings, steps.get("ingest_returns", time.perf_counter() - started))]
    lines.append(f"Built the marts with dbt in {steps.get('fostering_dbt_models', 0):.1f}s, every dbt test passing (log: {log_path}):")
    lines += [f"  marts.{name}: {rows} rows" for name, rows in mart_row_counts(settings.warehouse).items()]
    return "\n".join(lines)


def mart_row_counts(warehouse) -> dict[str, int]:
    with connect(warehouse, read_only=True) as con:
        names = [n for (n,) in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts' ORDER BY 1"
        ).fetchall()]
        return {n: con.execute(f"SELECT count(*) FROM marts.{n}").fetchone()[0] for n in names}


def _raise_step_failure(result: dg.ExecuteInProcessResult, log_path) -> None:
    """Say which step failed and why, and where the full log is."""
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            cause = (error.cause or error) if error else None
            why = f"{cause.cls_name}: {cause.message.strip()}" if cause else "see the log"
            raise RuntimeError(f"step {event.step_key} failed ({why}); full log: {log_path}")
    raise RuntimeError(f"the pipeline run failed; full log: {log_path}")


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
