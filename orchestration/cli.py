"""The `fostering` command: what an LA analyst or an operator types.

`run` goes through Dagster (in-process), so the command line and the
scheduled deployment run the very same assets.

Errors a user can cause end in one plain sentence and an exit status (see
EXIT_STATUS), never a traceback; `fostering --debug ...` shows the traceback.
The settings are checked once, before any command (and before anything that
reads them at import time) runs.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path

import click

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

EXIT_STATUS = """\b
Exit status:
  0  done.
  1  the data: `validate` found an error in a return; `run` or `backfill`
     withheld the publish because a blocking quality check failed.
  2  a usage or setting error, or could not start: a bad option, a missing
     path, a malformed FOSTERING_* setting, an unknown contract version,
     another run holding the warehouse.
  3  the pipeline could not finish: a folder it cannot write, a full disk, a
     failed step, an unexpected internal error. The message says what to
     change and where the log is; --debug shows the traceback.
"""

LOG_KEY = "fostering.log_path"  # the run's log, in the click context's meta, for the messages


def _setting_help(text: str, variable: str) -> str:
    """An option's help that names the setting behind it and the setting's default (from the settings module)."""
    from orchestration.settings import describe_default

    return f"{text}  [env var: {variable}; default: {describe_default(variable)}]"


def _debug_hint(ctx: click.Context) -> str:
    log = ctx.meta.get(LOG_KEY)
    where = f"; the log is {log}" if log is not None and Path(log).exists() else ""
    return f" (run with --debug to see the traceback{where})"


def _current_settings():
    from orchestration.settings import ConfigurationError, load_settings

    try:
        return load_settings()
    except ConfigurationError:
        return None


def _plain(exc: BaseException, ctx: click.Context) -> tuple[int, str]:
    """The exit status and the one sentence for an error that reached the command line."""
    from orchestration.errors import PlainError, describe_os_error

    name = type(exc).__name__
    if isinstance(exc, PlainError):  # already says what failed and what to change (and where the log is)
        return exc.exit_status, str(exc)
    if isinstance(exc, OSError) and (exc.filename or exc.errno):
        return 3, describe_os_error(exc.errno, exc.strerror or str(exc), exc.filename, _current_settings()) + _debug_hint(ctx)
    text = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    return 3, f"stopped on an unexpected error ({name}{': ' + text[:300] if text else ''}){_debug_hint(ctx)}"


class FosteringCommands(click.Group):
    """The command group: turns any error that reaches it into one sentence and an exit status."""

    def invoke(self, ctx: click.Context):
        ctx.meta["fostering.command_args"] = list(ctx.args)  # the command's own arguments (click clears ctx.args)
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as exc:  # noqa: BLE001 - the one place every error is said plainly
            code, sentence = _plain(exc, ctx)
            if ctx.params.get("debug"):
                traceback.print_exc()
                details = getattr(exc, "details", None)
                if details:
                    click.echo(details, err=True)
            command = f"fostering {ctx.invoked_subcommand}" if ctx.invoked_subcommand else "fostering"
            click.echo(f"{command}: {sentence}", err=True)
            ctx.exit(code)


def _discover_all(paths: tuple[str, ...]) -> tuple[list[Path], list]:
    """Each PATH is a return, or a folder walked as a landing folder is; also what was passed over."""
    from orchestration.returns.landing import returns_under

    found: list[Path] = []
    ignored: list = []
    for text in paths:
        returns, passed_over = returns_under(Path(text))
        found.extend(returns)
        ignored.extend(passed_over)
    return found, ignored


@click.group(cls=FosteringCommands, epilog=EXIT_STATUS)
@click.option("--debug", is_flag=True, help="Show the full traceback of any error.")
@click.version_option(package_name="fostering-sufficiency")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Fostering sufficiency pipeline: validate, ingest and publish LAs' monthly fostering returns.

    Settings are FOSTERING_* environment variables (see the README); every one
    is checked before a command runs, and every bad one is named.
    """
    if ctx.resilient_parsing or any(arg in ctx.help_option_names for arg in ctx.meta.get("fostering.command_args", ())):
        return  # `fostering COMMAND --help` works whatever the settings
    from orchestration.settings import load_settings

    load_settings()  # a ConfigurationError names every malformed setting (exit 2)


def _usage(command: str, sentence: str) -> None:
    """A usage or setting problem: one sentence, exit status 2."""
    click.echo(f"fostering {command}: {sentence}", err=True)
    sys.exit(2)


def _validation_records(paths: list[Path]) -> list[dict]:
    """A batch of returns checked together (the rules run once per batch), as the JSON output
    shows them (module level: runs in worker processes)."""
    from orchestration.returns.readers import read_return
    from orchestration.returns.validate import validate_many
    from orchestration.settings import load_settings

    settings = load_settings()
    reads = [(path, read_return(path, settings.max_expanded_bytes)) for path in paths]
    return [_validation_record(path, checked) for path, checked in zip(paths, validate_many(reads, reference_dir=settings.reference_dir))]


def _validation_record(path: Path, checked) -> dict:
    from orchestration.returns.findings import as_records

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


VALIDATE_BATCH = 10  # returns checked together (the rules run once per batch): small, so results show as they come


def _validation_lines(r: dict) -> str:
    """A return's result for a person: its status line, then one line per finding."""
    from orchestration.returns.findings import describe

    head = f"{r['path']}: {r['status'].replace('_', ' ')} (LA {r['la_code'] or '?'}, period {r['period'] or '?'}): {r['errors']} error(s), {r['warnings']} warning(s)"
    return "\n".join([head, *("  " + describe(finding) for finding in r["findings"])])


@main.command(epilog=EXIT_STATUS, short_help="Check returns against the contract, without loading them.")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
    help="text: each return's findings, one per line, for a person; json: a list with one object per return "
    "(path, status, la_code, period, contract_version, errors, warnings, findings), for a program.",
)
def validate(paths: tuple[str, ...], fmt: str) -> None:
    """Check returns against the contract without loading them. Exit status 1 if any has an error.

    Each PATH is a return, or a folder of returns. A return is one of:

    \b
      - an Excel workbook (.xlsx or .xlsm), one sheet per table;
      - a ZIP file (.zip) of CSV files, one <table>.csv per table;
      - a folder of CSV files, one <table>.csv per table.

    A file is recognised by its content, whatever its name. A folder that holds
    other returns is walked as a landing folder is: what in it is not a return
    (an old .xls workbook, a CSV file on its own, any other file) is listed with
    the reason (on stderr with --format json, whose output stays a list of returns).
    """
    from orchestration.parallel import batches, ordered_map
    from orchestration.progress import Progress

    returns, ignored = _discover_all(paths)
    results = []
    shown = Progress(sys.stderr)
    # Small batches first, so the first results show within seconds; each return's result is printed as it is known.
    with shown.counter("Checking returns", len(returns)) as done:
        for batch in ordered_map(_validation_records, batches(returns, VALIDATE_BATCH), chunksize=1, parallel_from=2):
            results.extend(batch)
            if fmt == "text":
                shown.say_to(sys.stdout, "\n".join(_validation_lines(r) for r in batch))
            done.advance(len(batch))
    if fmt == "json":
        click.echo(json.dumps(results, indent=2, default=str))
        for passed_over in ignored:
            click.echo(f"{passed_over.path}: {passed_over.reason}", err=True)
    else:
        for passed_over in ignored:
            click.echo(f"{passed_over.path}: {passed_over.reason}")
        bad = sum(r["errors"] > 0 for r in results)
        also = f"; {len(ignored)} other file(s) ignored (not returns)" if ignored else ""
        click.echo(f"\n{len(results)} return(s) checked: {len(results) - bad} without errors, {bad} with errors{also}.")
    sys.exit(1 if any(r["errors"] for r in results) else 0)


@main.command(epilog=EXIT_STATUS, short_help="Write a blank return workbook for an LA to fill in.")
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--version", "version", default=None, metavar="VERSION", help="Contract version, like 1.0 (default: the newest).")
def template(out: str, version: str | None) -> None:
    """Write a blank return workbook to OUT (an .xlsx file): a sheet per table, dropdowns for every code list, a Guidance sheet."""
    from orchestration.returns.schema import known_versions, load_contract
    from orchestration.returns.template import write_template

    try:
        contract = load_contract(version)
    except KeyError:
        raise click.BadParameter(
            f"there is no contract version {version}; the known versions are {', '.join(known_versions())}",
            param_hint="--version",
        ) from None
    path = write_template(Path(out), contract)
    click.echo(f"Blank return template (contract {contract.version}) written to {path}")


@main.command(epilog=EXIT_STATUS, short_help="Write deterministic synthetic returns, like the bundled sample.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder to write the returns into.")
@click.option("--las", type=click.IntRange(min=1), help="Number of local authorities.  [default: 8; --national: 150]")
@click.option("--months", type=click.IntRange(min=1), help="Number of consecutive months.  [default: 30; --national: 120]")
@click.option("--seed", default=1, show_default=True, help="Random seed: the same seed gives the same files.")
@click.option("--start", help="First period, YYYY-MM.  [default: 2021-04; --national: 2016-04]")
@click.option(
    "--forms", type=click.Choice(["mixed", "zip", "xlsx", "folder", "csv"]),
    help="Return form: xlsx, zip (of CSV files), folder (of CSV files; csv is the same), or mixed (each LA its own form, as in the bundled sample).  "
    "[default: mixed; --national: folder]",
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
    """Run the pipeline one run at a time, print its report, exit with its status.

    A setting it cannot use or a busy warehouse (2), and a pipeline that could
    not finish (3), are said in one sentence by FosteringCommands.
    """
    from orchestration.pipeline import new_log_path, one_run_at_a_time, run_pipeline
    from orchestration.progress import Progress, use

    log_path = new_log_path(settings)
    click.get_current_context().meta[LOG_KEY] = log_path
    with one_run_at_a_time(settings), use(Progress(sys.stderr)):
        report = run_pipeline(settings, log_path=log_path, **how)
    click.echo(report.text)
    sys.exit(report.exit_code)


@main.command(epilog=EXIT_STATUS, short_help="Ingest new returns, rebuild their months, gate and publish.")
@click.option("--landing", type=click.Path(file_okay=False), help=_setting_help("Folder the returns land in.", "FOSTERING_LANDING"))
@click.option("--warehouse", type=click.Path(dir_okay=False), help=_setting_help("The warehouse, a DuckDB file.", "FOSTERING_WAREHOUSE"))
@click.option("--publish-dir", type=click.Path(file_okay=False), help=_setting_help("Folder the publishes go to.", "FOSTERING_PUBLISH_DIR"))
@click.option("--full-refresh", is_flag=True, help="Rebuild every month's marts from scratch (after a change to the models or the reference data).")
def run(landing: str | None, warehouse: str | None, publish_dir: str | None, full_refresh: bool) -> None:
    """The main job: ingest new returns, rebuild the months they touch, run the quality gate, publish if it passed.

    Exits 0 when the pipeline ran, whatever the LAs' returns contained (a rejected
    return is the LA's to fix, in its findings report). Dagster's and dbt's
    output go to the run's log, data/logs/run-*.log.
    """
    settings = _locations(landing, warehouse, publish_dir)
    if not settings.landing.is_dir():
        what = "is not a folder" if settings.landing.exists() else "does not exist"
        _usage("run", f"the landing folder {settings.landing} {what}; pass --landing or set FOSTERING_LANDING to the folder the returns land in")
    _run_and_report("run", settings, full_refresh=full_refresh)


@main.command(epilog=EXIT_STATUS, short_help="Rebuild a range of months' marts, then gate and publish.")
@click.option("--from", "first", required=True, metavar="YYYY-MM", help="First reporting month to rebuild.")
@click.option("--to", "last", required=True, metavar="YYYY-MM", help="Last reporting month to rebuild.")
@click.option("--warehouse", type=click.Path(dir_okay=False), help=_setting_help("The warehouse, a DuckDB file.", "FOSTERING_WAREHOUSE"))
@click.option("--publish-dir", type=click.Path(file_okay=False), help=_setting_help("Folder the publishes go to.", "FOSTERING_PUBLISH_DIR"))
def backfill(first: str, last: str, warehouse: str | None, publish_dir: str | None) -> None:
    """Rebuild the marts for a range of months (no ingest), then run the quality gate and publish if it passed.

    The same single run over a partition range as a backfill launched from the Dagster UI.
    """
    from orchestration.partitions import monthly_partitions

    keys = monthly_partitions.get_partition_keys()
    for value in (first, last):
        if value not in keys:
            raise click.BadParameter(f"{value} is not a reporting month from {keys[0]} to {keys[-1]} (YYYY-MM)")
    if first > last:
        raise click.BadParameter(f"--from {first} is after --to {last}")
    import dagster as dg

    settings = _locations(warehouse=warehouse, publish_dir=publish_dir)
    if not settings.warehouse.exists():
        _usage("backfill", f"nothing to backfill: {settings.warehouse} does not exist yet (run `fostering run` first, or pass --warehouse)")
    _run_and_report("backfill", settings, backfill=dg.PartitionKeyRange(first, last))


# --- `fostering status`: who has sent what (orchestration/status.py) -------------------------


@main.command(epilog=EXIT_STATUS, short_help="Start the Dagster UI and daemon on the data folder's own instance.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the UI listens on (loopback: this machine only).")
@click.option("--port", default=3000, show_default=True, type=click.IntRange(1, 65535), help="Port the UI listens on.")
def dev(host: str, port: int) -> None:
    """Start `dagster dev` (the UI, the sensors and the schedules) on the data folder's Dagster instance.

    `fostering run` keeps its runs in the same instance (<data folder>/dagster, or
    DAGSTER_HOME when set), so the UI shows every run of the command line with its
    materialisations, checks and partitions. Stop it with Ctrl-C.
    """
    from orchestration.dbt_project import prepare_manifest
    from orchestration.instance import dagster_dev_argv, prepare_home
    from orchestration.settings import load_settings

    settings = load_settings()
    prepare_manifest()
    home = prepare_home(settings)
    argv = dagster_dev_argv(host, port)
    click.echo(f"Dagster instance: {home}\nThe assets, once the UI has started: http://{host}:{port}/assets", err=True)
    sys.stdout.flush()
    os.execve(argv[0], argv, {**os.environ, "DAGSTER_HOME": str(home)})


@main.command(epilog=EXIT_STATUS, short_help="Show each LA's returns for the latest months.")
@click.option("--warehouse", type=click.Path(dir_okay=False), help=_setting_help("The warehouse, a DuckDB file.", "FOSTERING_WAREHOUSE"))
@click.option("--periods", default=3, show_default=True, type=click.IntRange(min=1), help="How many of the latest months to show.")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
    help="text: a table by hub and a summary line per month, for a person; json: a list with one object per LA and month, for a program.",
)
def status(warehouse: str | None, periods: int, fmt: str) -> None:
    """Every LA's return for the latest months: accepted, with warnings, rejected or missing, and late, on time or lateness unknown.

    Exit status 0; 2 when the status cannot be read (no warehouse or marts yet: run
    `fostering run` first; or a run kept the warehouse busy for 30 s).
    """
    from orchestration.status import StatusUnavailable, format_text, records, submission_status

    try:
        frame = submission_status(_locations(warehouse=warehouse).warehouse, periods)
    except StatusUnavailable as exc:
        _usage("status", str(exc))
    if fmt == "json":
        click.echo(json.dumps(records(frame), indent=2))
    else:
        click.echo(format_text(frame))


# --- `fostering report`: the HTML report of a publish (orchestration/report/) ----------------


@main.command(epilog=EXIT_STATUS, short_help="Build the HTML report of a publish.")
@click.option("--publish-dir", type=click.Path(file_okay=False), help=_setting_help("Folder the publishes go to.", "FOSTERING_PUBLISH_DIR"))
@click.option("--version", "version", default=None, metavar="VERSION", help="The publish version to report on (default: the latest).")
def report(publish_dir: str | None, version: str | None) -> None:
    """(Re)build the HTML report of a publish: <version>/report/index.html, a page per LA and per hub.

    Built from the publish's own files only (disclosure-controlled). Exit status 2
    also when there is no such publish or it cannot be read.
    """
    from orchestration.publish.writer import VERSION_RE, read_latest
    from orchestration.report import ReportError, build_report

    if version and not VERSION_RE.match(version):
        raise click.BadParameter(f"{version} is not a publish version (YYYYMMDDTHHMMSSZ)", param_hint="--version")
    folder = _locations(publish_dir=publish_dir).publish_dir
    target = (folder / version) if version else read_latest(folder)
    if target is None or not (target / "manifest.json").is_file():
        what = f"no publish {version}" if version else "no latest publish"
        _usage("report", f"{what} in {folder} (run `fostering run` first)")
    try:
        result = build_report(target)
    except ReportError as exc:
        _usage("report", str(exc))
    carried_from = f" from {result.carried_from}" if result.carried else ""
    click.echo(
        f"Report of publish {target.name} written in {result.seconds:.1f}s: {result.index} "
        f"({len(result.pages)} pages: {result.rendered} rendered, {result.carried} carried{carried_from}; {result.charts} charts)"
    )


if __name__ == "__main__":
    main()
