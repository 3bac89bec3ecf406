"""The `fostering` command: what an LA analyst or an operator types.

`run` goes through Dagster (in-process), so the command line and the
scheduled deployment run the very same assets.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import click

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")


def _discover_all(paths: tuple[str, ...]) -> list[Path]:
    """Each PATH is a return, or a folder whose returns are all checked."""
    from orchestration.returns.landing import discover

    found: list[Path] = []
    for text in paths:
        path = Path(text)
        holds_csv = path.is_dir() and any(p.suffix.lower() == ".csv" for p in path.iterdir())
        if path.is_dir() and not holds_csv:
            returns, _ = discover(path)
            found.extend(returns)
        else:
            found.append(path)
    return found


@click.group()
@click.version_option(package_name="fostering-sufficiency")
def main() -> None:
    """Fostering sufficiency pipeline: validate, ingest and publish LAs' monthly fostering returns."""


def _validation_record(path: Path) -> dict:
    """One return checked, as the JSON output shows it (module level: runs in worker processes)."""
    from orchestration.returns.findings import as_records
    from orchestration.returns.validate import validate_path
    from orchestration.settings import load_settings

    settings = load_settings()
    checked = validate_path(path, max_expanded_bytes=settings.max_expanded_bytes, reference_dir=settings.reference_dir)
    return {
        "path": str(path),
        "status": checked.status,
        "la_code": checked.la_code,
        "period": checked.period.strftime("%Y-%m") if checked.period else None,
        "contract_version": checked.contract.version,
        "errors": checked.errors,
        "warnings": checked.warnings,
        "findings": as_records(checked.findings),
    }


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def validate(paths: tuple[str, ...], fmt: str) -> None:
    """Check returns against the contract without loading them. Exit status 1 if any has an error."""
    from orchestration.returns.findings import describe

    from orchestration.parallel import ordered_map

    results = list(ordered_map(_validation_record, _discover_all(paths)))
    if fmt == "json":
        click.echo(json.dumps(results, indent=2, default=str))
    else:
        for r in results:
            click.echo(f"{r['path']}: {r['status'].replace('_', ' ')} (LA {r['la_code'] or '?'}, period {r['period'] or '?'}): {r['errors']} error(s), {r['warnings']} warning(s)")
            for finding in r["findings"]:
                click.echo("  " + describe(finding))
        bad = sum(r["errors"] > 0 for r in results)
        click.echo(f"\n{len(results)} return(s) checked: {len(results) - bad} without errors, {bad} with errors.")
    sys.exit(1 if any(r["errors"] for r in results) else 0)


@main.command()
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--version", "version", default=None, help="Contract version (default: the newest).")
def template(out: str, version: str | None) -> None:
    """Write a blank return workbook: a sheet per table, dropdowns for every code list, a Guidance sheet."""
    from orchestration.returns.schema import load_contract
    from orchestration.returns.template import write_template

    path = write_template(Path(out), load_contract(version))
    click.echo(f"Blank return template (contract {load_contract(version).version}) written to {path}")


@main.command()
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder to write the returns into.")
@click.option("--las", type=click.IntRange(min=1), help="Number of local authorities.  [default: 8; --national: 150]")
@click.option("--months", type=click.IntRange(min=1), help="Number of consecutive months.  [default: 30; --national: 120]")
@click.option("--seed", default=1, show_default=True, help="Random seed: the same seed gives the same files.")
@click.option("--start", help="First period, YYYY-MM.  [default: 2021-04; --national: 2016-04]")
@click.option(
    "--forms", type=click.Choice(["mixed", "zip", "xlsx", "folder", "csv"]),
    help="Return form: csv is the same as folder (a folder of CSV files).  [default: mixed; --national: folder]",
)
@click.option("--no-trafford", is_flag=True, help="Do not use Trafford's real 2021/22 series.")
@click.option(
    "--national", is_flag=True,
    help="An England-sized history: the reference list's LAs plus synthetic ones, about 550 placements per "
    "return, one form, written with its own LA reference list in OUT/.reference.",
)
@click.option("--workers", type=click.IntRange(min=1), help="Processes simulating LAs.  [default: 1; --national: one per core]")
def sample(
    out: str, las: int | None, months: int | None, seed: int, start: str | None, forms: str | None,
    no_trafford: bool, national: bool, workers: int | None,
) -> None:
    """Write deterministic synthetic returns (the bundled sample is the default)."""
    from orchestration.sample import generate, generate_national

    forms = "folder" if forms == "csv" else forms
    started = time.perf_counter()
    try:
        if national:
            paths = generate_national(
                Path(out), las=las or 150, months=months or 120, seed=seed, start=start or "2016-04",
                forms=forms or "folder", workers=workers,
            )
        else:
            paths = generate(
                Path(out), las=las or 8, months=months or 30, seed=seed, start=start or "2021-04",
                with_trafford=not no_trafford, forms=forms or "mixed", workers=workers or 1,
            )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(f"{len(paths)} returns written to {out} in {time.perf_counter() - started:.1f}s")
    if national:
        click.echo(f"Validate or ingest them with FOSTERING_REFERENCE_DIR={Path(out) / '.reference'} (their LA list)")


def _locations(landing: str | None = None, warehouse: str | None = None, publish_dir: str | None = None):
    from orchestration.settings import load_settings

    env = dict(os.environ)
    for name, value in (("FOSTERING_LANDING", landing), ("FOSTERING_WAREHOUSE", warehouse), ("FOSTERING_PUBLISH_DIR", publish_dir)):
        if value:
            env[name] = value
    return load_settings(env)


def _run_and_report(command: str, settings, **how) -> None:
    """Run the pipeline one run at a time, print its report, exit with its status."""
    from orchestration.pipeline import PipelineFailed, one_run_at_a_time, run_pipeline
    from orchestration.settings import ConfigurationError
    from orchestration.warehouse import WarehouseBusy

    try:
        with one_run_at_a_time(settings):
            report = run_pipeline(settings, **how)
    except (ConfigurationError, WarehouseBusy) as exc:
        click.echo(f"fostering {command}: {exc}", err=True)
        sys.exit(2)
    except PipelineFailed as exc:
        click.echo(f"fostering {command}: the pipeline failed: {exc}", err=True)
        sys.exit(1)
    click.echo(report.text)
    sys.exit(report.exit_code)


@main.command()
@click.option("--landing", type=click.Path(file_okay=False), help="Folder the returns land in (default: raw/sample).")
@click.option("--warehouse", type=click.Path(dir_okay=False), help="DuckDB file (default: data/warehouse.duckdb).")
@click.option("--publish-dir", type=click.Path(file_okay=False), help="Where publishes go (default: data/published).")
@click.option("--full-refresh", is_flag=True, help="Rebuild every month's marts from scratch (after a change to the models or the reference data).")
def run(landing: str | None, warehouse: str | None, publish_dir: str | None, full_refresh: bool) -> None:
    """The main job: ingest new returns, rebuild the months they touch, run the quality gate, publish if it passed.

    Exit status: 0 when the pipeline ran (whatever the LAs' returns contained), 1 when a
    blocking quality check withheld the publish or the pipeline itself failed, 2 when
    the configuration or a concurrent run stopped it before it began.
    """
    _run_and_report("run", _locations(landing, warehouse, publish_dir), full_refresh=full_refresh)


@main.command()
@click.option("--from", "first", required=True, metavar="YYYY-MM", help="First reporting month to rebuild.")
@click.option("--to", "last", required=True, metavar="YYYY-MM", help="Last reporting month to rebuild.")
@click.option("--warehouse", type=click.Path(dir_okay=False), help="DuckDB file (default: data/warehouse.duckdb).")
@click.option("--publish-dir", type=click.Path(file_okay=False), help="Where publishes go (default: data/published).")
def backfill(first: str, last: str, warehouse: str | None, publish_dir: str | None) -> None:
    """Rebuild the marts for a range of months (no ingest), then run the quality gate and publish if it passed.

    The same single run over a partition range as a backfill launched from the Dagster UI.
    Exit status as for `run`.
    """
    from orchestration.partitions import monthly_partitions

    keys = monthly_partitions.get_partition_keys()
    for value in (first, last):
        if value not in keys:
            raise click.BadParameter(f"{value} is not a reporting month from {keys[0]} to {keys[-1]} (YYYY-MM)")
    if first > last:
        raise click.BadParameter(f"--from {first} is after --to {last}")
    import dagster as dg

    _run_and_report("backfill", _locations(warehouse=warehouse, publish_dir=publish_dir), backfill=dg.PartitionKeyRange(first, last))


# --- `fostering status`: who has sent what (orchestration/status.py) -------------------------


@main.command()
@click.option("--warehouse", type=click.Path(dir_okay=False), help="DuckDB file (default: FOSTERING_WAREHOUSE, else data/warehouse.duckdb).")
@click.option("--periods", default=3, show_default=True, type=click.IntRange(min=1), help="How many of the latest months to show.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def status(warehouse: str | None, periods: int, fmt: str) -> None:
    """Every LA's return for the latest months: accepted, with warnings, rejected or missing, and late or not.

    Exit status 0; 2 when the status cannot be read (no warehouse or marts yet: run
    `fostering run` first; or a run kept the warehouse busy for 30 s).
    """
    from orchestration.settings import load_settings
    from orchestration.status import StatusUnavailable, format_text, records, submission_status

    path = Path(warehouse) if warehouse else load_settings().warehouse
    try:
        frame = submission_status(path, periods)
    except StatusUnavailable as exc:
        click.echo(f"fostering status: {exc}", err=True)
        sys.exit(2)
    if fmt == "json":
        click.echo(json.dumps(records(frame), indent=2))
    else:
        click.echo(format_text(frame))


# --- `fostering report`: the HTML report of a publish (orchestration/report/) ----------------


@main.command()
@click.option("--publish-dir", type=click.Path(file_okay=False), help="Where publishes go (default: FOSTERING_PUBLISH_DIR, else data/published).")
@click.option("--version", "version", default=None, metavar="VERSION", help="The publish version to report on (default: the latest).")
def report(publish_dir: str | None, version: str | None) -> None:
    """(Re)build the HTML report of a publish: <version>/report/index.html, a page per LA and per hub.

    Built from the publish's own files only (disclosure-controlled). Exit status 0;
    2 when there is no such publish or it cannot be read.
    """
    from orchestration.publish.writer import VERSION_RE, read_latest
    from orchestration.report import ReportError, build_report

    if version and not VERSION_RE.match(version):
        raise click.BadParameter(f"{version} is not a publish version (YYYYMMDDTHHMMSSZ)", param_hint="--version")
    folder = _locations(publish_dir=publish_dir).publish_dir
    target = (folder / version) if version else read_latest(folder)
    if target is None or not (target / "manifest.json").is_file():
        what = f"no publish {version}" if version else "no latest publish"
        click.echo(f"fostering report: {what} in {folder} (run `fostering run` first)", err=True)
        sys.exit(2)
    try:
        result = build_report(target)
    except (ReportError, OSError) as exc:
        click.echo(f"fostering report: {exc}", err=True)
        sys.exit(2)
    click.echo(
        f"Report of publish {target.name} written in {result.seconds:.1f}s: {result.index} "
        f"({len(result.pages)} pages, {result.charts} charts)"
    )


if __name__ == "__main__":
    main()
