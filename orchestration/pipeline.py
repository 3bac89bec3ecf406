"""The main job as the `fostering run` command runs it: Dagster in-process, quiet, summarised.

Runs the same assets and checks a deployment schedules (ingest, dbt, quality
gate, publish) against the data folder's own Dagster instance
(`orchestration.instance`), so every run of the command line is in the history
the Dagster UI shows, and turns what happened into the short report an operator
reads. Progress goes to `orchestration.progress.current()` as the work goes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from orchestration import progress
from orchestration.assets.ingest import LEDGER_KEY, ingest_returns
from orchestration.dbt_project import prepare_manifest
from orchestration.instance import COMMAND_LINE, LAUNCHED_BY_TAG, close_abandoned_runs, data_folder_instance
from orchestration.monthly_builds import pending_periods
from orchestration.partitions import range_covering, range_tags
from orchestration.resources import default_resources
from orchestration.errors import PlainError, describe_os_error_text
from orchestration.settings import Settings
from orchestration.locks import exclusive_lock
from orchestration.up_to_date import inputs_fingerprint, nothing_to_do, record_complete
from orchestration.warehouse import WarehouseBusy, connect

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass
class RunReport:
    text: str
    exit_code: int  # 0 ran (published, or nothing blocked); 1 a blocking check failed
    months_built: list[str] = field(default_factory=list)  # the monthly partitions the run materialised
    seconds: dict[str, float] = field(default_factory=dict)  # each step's time (ingest, dbt, gate, publish)
    instance_seconds: float = 0.0  # opening the data folder's Dagster instance (and closing abandoned runs)


class PipelineFailed(PlainError):
    """The pipeline itself failed (not the LAs' data): one sentence saying what to change, and where the log is.

    `details` holds the failed step's own traceback (`fostering --debug` prints it).
    """

    def __init__(self, message: str, details: str | None = None):
        super().__init__(message)
        self.details = details


def new_log_path(settings: Settings) -> Path:
    """Where a run's log goes: Dagster's and dbt's output, which never reaches the terminal."""
    return settings.data_dir / "logs" / f"run-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}.log"


def one_run_at_a_time(settings: Settings):
    """A second `fostering run` on the same warehouse waits for the first, saying so, then gives up plainly."""
    lock_path = settings.warehouse.with_name(settings.warehouse.name + ".run.lock")
    busy = WarehouseBusy(
        f"another `fostering run` has been using {settings.warehouse} for over {settings.run_wait_s:.0f}s; "
        "try again when it has finished (FOSTERING_RUN_WAIT_SECONDS sets how long to wait)"
    )
    waiting = lambda: print(  # noqa: E731
        f"Another `fostering run` is using {settings.warehouse}: waiting for it to finish (up to {settings.run_wait_s:.0f}s)...",
        file=sys.stderr,
        flush=True,
    )
    return exclusive_lock(lock_path, busy, settings.run_wait_s, on_wait=waiting)


@dataclass
class Months:
    """Which months of the monthly marts a run rebuilds, and why (for the report)."""

    keys: dg.PartitionKeyRange | None
    why: str
    full_refresh: bool = False


def months_to_build(settings: Settings, full_refresh: bool = False, backfill: dg.PartitionKeyRange | None = None) -> Months:
    """The range of months to rebuild: as asked (a backfill), every month (a full refresh), or the pending ones."""
    if backfill is not None:
        return Months(backfill, f"backfill of {backfill.start} to {backfill.end} as asked")
    with connect(settings.warehouse, read_only=True) as con:
        behind = pending_periods(con)
        every = [p for (p,) in con.execute(
            "SELECT DISTINCT period FROM ops.submissions WHERE is_current AND status <> 'rejected' AND period IS NOT NULL"
        ).fetchall()]
    if full_refresh:
        return Months(range_covering(every), "full refresh of every month", full_refresh=True)
    keys = range_covering(behind)
    if keys is None:
        return Months(None, "no month's marts were behind its returns")
    return Months(keys, f"{len(behind)} month(s) had returns newer than their marts")


def run_pipeline(
    settings: Settings,
    full_refresh: bool = False,
    backfill: dg.PartitionKeyRange | None = None,
    log_path: Path | None = None,
) -> RunReport:
    """Ingest what is new, rebuild the months it touches, run the quality gate and publish if it passed.

    Two Dagster runs: the ingest, then (once it is known which months changed)
    the dbt models over those months, the gate and the publish. A backfill
    skips the ingest and rebuilds the months asked for. Dagster's log (its
    console logger writes to stderr) and dbt's go to `log_path`, not the terminal.
    """
    settings.require_real_key()
    prepare_manifest()
    log_path = log_path or new_log_path(settings)
    opening = time.perf_counter()
    with data_folder_instance(settings) as instance:
        abandoned = close_abandoned_runs(instance)
        opened = time.perf_counter() - opening
        progress.current().say(
            f"Dagster instance {instance.root_directory} open in {opened:.1f}s"
            + (f"; closed {len(abandoned)} run(s) a stopped `fostering run` left unfinished" if abandoned else "")
        )
        report = _run_pipeline(instance, settings, full_refresh, backfill, log_path)
    report.instance_seconds = opened
    return report


def _run_pipeline(instance: dg.DagsterInstance, settings: Settings, full_refresh: bool, backfill, log_path: Path) -> RunReport:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    lines = []
    seconds: dict[str, float] = {}
    with (
        log_path.open("w", encoding="utf-8") as log,
        contextlib.redirect_stdout(log),  # dbt's own log lines
        contextlib.redirect_stderr(log),  # Dagster's console logger: failed steps' stack traces
    ):
        if backfill is None:
            ingested = _run(instance, [ingest_returns], settings, log_path, fail_fast=True, with_dbt=False)
            ingest = _materialization(ingested, LEDGER_KEY.path).metadata
            seconds["ingest_returns"] = _steps(instance, ingested).get("ingest_returns", time.perf_counter() - started)
            lines.append(summarise(ingest, settings, seconds["ingest_returns"]))
        elif not settings.warehouse.exists():
            raise PipelineFailed(f"nothing to backfill: {settings.warehouse} does not exist yet (run `fostering run` first)")
        months = months_to_build(settings, full_refresh, backfill)
        fingerprint = inputs_fingerprint(settings) if backfill is None and not full_refresh else None
        if months.keys is None and nothing_to_do(settings, fingerprint):
            lines.append(
                f"Nothing new to publish, and nothing rebuilt ({months.why}; the models, reference data, settings "
                f"and day are those of the last complete run): the latest publish stays {_latest(settings)}"
            )
            return RunReport("\n".join(lines), 0, [], seconds)
        from orchestration.quality.gate import import_gx_in_background

        import_gx_in_background()  # the gate's library, imported while dbt works
        # These need the dbt manifest prepared above, and import dbt (about 3 s): only once there is work.
        from orchestration.assets.dbt import fostering_dbt_models, fostering_dbt_monthly
        from orchestration.assets.publish import published_marts
        from orchestration.checks import gate_results_path, quality_gate

        assets = [ingest_returns, fostering_dbt_models, fostering_dbt_monthly, quality_gate, published_marts]
        selection = dg.AssetSelection.assets(fostering_dbt_models, published_marts) | dg.AssetSelection.checks(quality_gate)
        if months.keys is not None:
            selection = selection | dg.AssetSelection.assets(fostering_dbt_monthly)
        tags = range_tags(months.keys, months.full_refresh) if months.keys else {}
        result = _run(instance, assets, settings, log_path, selection=selection, tags=tags)
    steps = _steps(instance, result)
    seconds.update(steps)
    gate_file = gate_results_path(settings.data_dir, result.run_id)
    gate = json.loads(gate_file.read_text(encoding="utf-8"))["suites"] if gate_file.exists() else None
    blocked = [s for s in (gate or []) if s["errors"]]
    if not result.success and not blocked:
        _raise_step_failure(result, log_path, settings)

    months_built = sorted({
        e.partition for e in result.get_asset_materialization_events()
        if e.partition and e.asset_key in fostering_dbt_monthly.keys
    })
    dbt_seconds = steps.get("fostering_dbt_models", 0) + steps.get("fostering_dbt_monthly", 0)
    built = f"the months {months.keys.start} to {months.keys.end}" if months.keys else "no month (only the unpartitioned models)"
    lines.append(f"Built {built} with dbt in {dbt_seconds:.1f}s ({months.why}), every data test of the months built passing (log: {log_path}):")
    lines += [f"  marts.{name}: {rows} rows" for name, rows in mart_row_counts(settings.warehouse).items()]
    lines += _gate_lines(gate, steps.get("quality_gate", 0))
    if blocked:
        lines.append(
            f"Publish WITHHELD: blocking quality checks failed in {', '.join(s['suite'] for s in blocked)}. "
            f"The previous publish stays the latest: {_latest(settings)}"
        )
        return RunReport("\n".join(lines), 1, months_built, seconds)
    meta = _materialization(result, ["publish", "published_marts"]).metadata
    if fingerprint is not None:
        record_complete(settings, fingerprint)
    if meta["unchanged"].value:
        lines.append(f"Nothing new to publish: the marts equal the latest publish, version {meta['version'].value} ({meta['latest'].value})")
        return RunReport("\n".join(lines), 0, months_built, seconds)
    lines.append(
        f"Published version {meta['version'].value} in {steps.get('published_marts', 0):.1f}s: {meta['path'].value} "
        f"(latest: {meta['latest'].value}); {sum(meta['withheld_cells'].value.values())} small-number cells withheld"
    )
    lines.append(f"Report: {meta['report'].value}")
    return RunReport("\n".join(lines), 0, months_built, seconds)


def _run(instance, assets, settings: Settings, log_path: Path, fail_fast: bool = False, with_dbt: bool = True, **kwargs) -> dg.ExecuteInProcessResult:
    """One in-process run; `fail_fast` raises on a failed step (the ingest: nothing after it can run),
    otherwise the caller reads the result (a blocked gate is not a pipeline failure)."""
    tags = {**kwargs.pop("tags", {}), LAUNCHED_BY_TAG: COMMAND_LINE}
    result = dg.materialize(
        assets, resources=default_resources(settings, with_dbt), run_config=QUIET, instance=instance, raise_on_error=False,
        tags=tags, **kwargs,
    )
    if fail_fast and not result.success:
        _raise_step_failure(result, log_path, settings)
    return result


def _steps(instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult) -> dict[str, float]:
    """Seconds per step, keyed by the op's name ("publish__published_marts" -> "published_marts")."""
    stats = instance.get_run_step_stats(result.run_id)
    return {s.step_key.split("__")[-1]: s.end_time - s.start_time for s in stats if s.end_time}


def _materialization(result: dg.ExecuteInProcessResult, key: list[str]) -> dg.AssetMaterialization:
    wanted = dg.AssetKey(key)
    return next(
        e.event_specific_data.materialization
        for e in result.get_asset_materialization_events()
        if e.event_specific_data.materialization.asset_key == wanted
    )


def _gate_lines(gate: list[dict] | None, seconds: float) -> list[str]:
    if gate is None:
        return ["Quality gate: did not run."]
    errors = sum(s["errors"] for s in gate)
    warnings = sum(s["warnings"] for s in gate)
    lines = [f"Quality gate ({len(gate)} suites, {seconds:.1f}s): {errors} blocking failure(s), {warnings} warning(s)"]
    for suite in gate:
        for failed in suite["failed"]:
            kind = "BLOCKING" if failed["blocking"] else "warning"
            lines.append(f"  {kind}: {suite['suite']}: {failed['protects']} ({failed['unexpected_count']} row(s))")
    if warnings:
        lines.append("  (warnings about an LA's data are in that LA's findings report)")
    return lines


def _latest(settings: Settings) -> str:
    latest = settings.publish_dir / "latest"
    return str(latest.resolve()) if latest.exists() else "none yet"


def mart_row_counts(warehouse: Path) -> dict[str, int]:
    with connect(warehouse, read_only=True) as con:
        names = [n for (n,) in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts' ORDER BY 1"
        ).fetchall()]
        return {n: con.execute(f"SELECT count(*) FROM marts.{n}").fetchone()[0] for n in names}


def _raise_step_failure(result: dg.ExecuteInProcessResult, log_path: Path, settings: Settings) -> None:
    """Say in one sentence which step failed and why, what to change if that is known, and where the log is."""
    for event in result.all_events:
        if event.is_step_failure:
            step = event.step_key.split("__")[-1]
            errors = []
            error = event.step_failure_data.error
            while error is not None and len(errors) < 10:  # the error, then what caused it
                errors.append(error)
                error = error.cause or error.context
            details = errors[0].to_string() if errors else None
            for error in errors:  # a folder it cannot write, a full disk: say which, and what to change
                plain = describe_os_error_text(error.message, settings)
                if plain:
                    raise PipelineFailed(f"step {step} failed: {plain} (the log is {log_path})", details)
            cause = errors[-1] if errors else None
            why = f"{cause.cls_name}: {_first_line(cause.message)}" if cause else "see the log"
            raise PipelineFailed(f"step {step} failed ({why}); the log is {log_path}", details)
    raise PipelineFailed(f"the pipeline run failed; the log is {log_path}")


def _first_line(message: str, limit: int = 300) -> str:
    line = next((text.strip() for text in message.splitlines() if text.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


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
