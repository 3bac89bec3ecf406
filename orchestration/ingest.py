"""Receive returns: keep the file, validate it, tell the LA, and load it if it passes.

One return is one transaction in the warehouse: its ledger row, its findings
and (only if it has no error) its pseudonymised tables are written together,
so a return is either wholly in or wholly out. The file is archived under its
checksum before anything else, so nothing received is ever lost.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from orchestration import reference
from orchestration.parallel import ordered_map
from orchestration.returns.findings import Findings, ReportHeader, write_reports
from orchestration.returns.landing import Ignored, archive, checksum, discover
from orchestration.returns.pseudonymise import protect
from orchestration.returns.readers import ROW
from orchestration.returns.schema import load_contract
from orchestration.returns.validate import ValidatedReturn, validate_path
from orchestration.settings import Settings
from orchestration.warehouse import connect, ensure_schema, insert_frame, refresh_current, writer_lock

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What happened to one return, for summaries (no personal data)."""

    source: str
    submission_id: str
    status: str  # accepted | accepted_with_warnings | rejected | already_received
    la_code: str | None = None
    period: str | None = None
    errors: int = 0
    warnings: int = 0
    placement_rows: int = 0
    report: str | None = None


@dataclass
class IngestSummary:
    outcomes: list[Outcome] = field(default_factory=list)
    ignored: list[Ignored] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def placement_rows(self) -> int:
        return sum(o.placement_rows for o in self.outcomes)


@dataclass
class Prepared:
    """A return made ready to store: everything computed, nothing yet written to the warehouse."""

    ledger: dict
    findings: pd.DataFrame
    tables: dict[str, pd.DataFrame]  # pseudonymised; empty when rejected
    outcome: Outcome


def ingest_landing(settings: Settings, paths: list[Path] | None = None, now: dt.datetime | None = None) -> IngestSummary:
    """Ingest every return in the landing folder (or just `paths`) that has not been received before.

    Returns are checked in parallel worker processes (reading, validating and
    pseudonymising are independent per return); this process alone writes, one
    transaction per return, in landing order, holding the warehouse's writer lock.
    """
    settings.require_real_key()
    summary = IngestSummary()
    if paths is None:
        paths, summary.ignored = discover(settings.landing)
    received_at = (now or dt.datetime.now(dt.timezone.utc)).replace(tzinfo=None)
    with writer_lock(settings.warehouse):
        with connect(settings.warehouse) as con:
            ensure_schema(con)
            seen = {row[0] for row in con.execute("SELECT submission_id FROM ops.submissions").fetchall()}
        todo = []
        for path in map(Path, paths):
            digest = checksum(path) if path.exists() else f"missing:{path}"
            if digest in seen:
                summary.outcomes.append(Outcome(_relative(path, settings.landing), digest, "already_received"))
                continue
            seen.add(digest)
            todo.append((path, digest))
        with connect(settings.warehouse) as con:
            jobs = [(path, digest, settings, received_at) for path, digest in todo]
            for prepared in ordered_map(_prepare_safely, jobs):
                _store(con, prepared)
                summary.outcomes.append(prepared.outcome)
    return summary


def _prepare_safely(job) -> Prepared:
    """Prepare one return; a failure of the pipeline itself rejects that return, not the run."""
    path, digest, settings, received_at = job
    try:
        return prepare(path, digest, settings, received_at)
    except Exception as exc:  # noqa: BLE001 - reported on the ledger and in the log, never lost
        log.exception("could not check return %s", _relative(path, settings.landing))
        findings = Findings()
        findings.add(
            "PIPELINE-ERROR", "error",
            f"the pipeline could not check this return ({type(exc).__name__}); it has been kept and the operators can see why in the log",
        )
        checked = ValidatedReturn(path=path, form=None, contract=load_contract(), tables={}, findings=findings.frame())
        return _prepared(checked, path, digest, settings, received_at, kept=archive(path, digest, settings.archive_dir) if path.exists() else None)


def prepare(path: Path, digest: str, settings: Settings, received_at: dt.datetime) -> Prepared:
    """Archive, validate, report and (when accepted) pseudonymise one return."""
    kept = archive(path, digest, settings.archive_dir) if path.exists() else None
    checked = validate_path(path, max_expanded_bytes=settings.max_expanded_bytes, reference_dir=settings.reference_dir)
    return _prepared(checked, path, digest, settings, received_at, kept)


def _prepared(checked: ValidatedReturn, path: Path, digest: str, settings: Settings, received_at: dt.datetime, kept) -> Prepared:
    source = _relative(path, settings.landing)
    reports = _report(checked, source, digest, received_at, settings)
    accepted = checked.status != "rejected"
    tables = _protected(checked, digest, settings) if accepted else {}
    placements = len(tables.get("placements", ()))
    ledger = {
        "submission_id": digest,
        "source_path": source,
        "archive_path": _within(kept, settings.data_dir) if kept else None,
        "form": checked.form,
        "la_code": checked.la_code,
        "la_code_submitted": checked.la_code_submitted,
        "period": checked.period,
        "return_version": checked.return_version,
        "contract_version": checked.contract.version,
        "submitted_at": checked.submitted_at,
        "received_at": received_at,
        "status": checked.status,
        "errors": checked.errors,
        "warnings": checked.warnings,
        "is_current": False,
        "superseded_by": None,
        "placement_rows": placements,
        "findings_json": _within(reports["json"], settings.data_dir),
        "findings_html": _within(reports["html"], settings.data_dir),
    }
    findings = checked.findings.rename(columns={"table": "table_name", "row": "row_number", "column": "column_name"})
    outcome = Outcome(
        source, digest, checked.status, checked.la_code, checked.period.strftime("%Y-%m") if checked.period else None,
        checked.errors, checked.warnings, placements, str(reports["html"]),
    )
    return Prepared(ledger, findings.assign(submission_id=digest), tables, outcome)


def _store(con, prepared: Prepared) -> None:
    """One return, one transaction: ledger row, findings, and its tables if accepted."""
    ledger = prepared.ledger
    con.begin()
    try:
        insert_frame(con, "ops.submissions", pd.DataFrame([ledger]))
        insert_frame(con, "ops.findings", prepared.findings)
        for name, frame in prepared.tables.items():
            insert_frame(con, f"raw.{name}", frame)
        if ledger["status"] != "rejected":
            refresh_current(con, ledger["la_code"], ledger["period"])
        con.commit()
    except BaseException:
        con.rollback()
        raise
    o = prepared.outcome
    log.info("return %s: %s (%d errors, %d warnings) LA %s period %s", o.source, o.status, o.errors, o.warnings, o.la_code or "?", o.period or "?")


def _protected(checked: ValidatedReturn, digest: str, settings: Settings) -> dict[str, pd.DataFrame]:
    out = {}
    for name, frame in checked.tables.items():
        stored = protect(checked.contract.tables[name], frame, checked.la_code, settings.pseudonym_key)
        out[name] = stored.rename(columns={ROW: "source_row"}).assign(submission_id=digest)
    return out


def _report(checked: ValidatedReturn, source: str, digest: str, received_at: dt.datetime, settings: Settings) -> dict[str, Path]:
    la_name = None
    if checked.la_code:
        las = reference.local_authorities(settings.reference_dir).set_index("gss_code")
        la_name = las.at[checked.la_code, "la_name"]
    period = checked.period.strftime("%Y-%m") if checked.period else None
    header = ReportHeader(
        source=source, checksum=digest, status=checked.status, la_code=checked.la_code, la_name=la_name,
        period=period, received_at=received_at.isoformat(sep=" ", timespec="seconds"),
        contract_version=checked.contract.version,
    )
    folder = settings.findings_dir / (checked.la_code or "unidentified") / (period or "unknown-period")
    # Named by the file's checksum alone: a return checked twice (a run killed before storing
    # it, then rerun) has one report, rewritten, never two.
    return write_reports(header, checked.findings, folder, digest[:16])


def _within(path: Path, data_dir: Path) -> str:
    """A path in the data folder as the ledger stores it: relative, so the folder can move."""
    return str(Path(path).resolve().relative_to(data_dir.resolve()))


def _relative(path: Path, landing: Path) -> str:
    try:
        return str(path.resolve().relative_to(landing.resolve()))
    except ValueError:
        return str(path)
