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
from orchestration.returns.findings import ReportHeader, write_reports
from orchestration.returns.landing import Ignored, archive, checksum, discover
from orchestration.returns.pseudonymise import protect
from orchestration.returns.readers import ROW
from orchestration.returns.validate import ValidatedReturn, validate_path
from orchestration.settings import Settings
from orchestration.warehouse import already_received, connect, ensure_schema, insert_frame, refresh_current, writer_lock

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


def ingest_landing(settings: Settings, paths: list[Path] | None = None, now: dt.datetime | None = None) -> IngestSummary:
    """Ingest every return in the landing folder (or just `paths`) that has not been received before."""
    settings.require_real_key()
    summary = IngestSummary()
    if paths is None:
        paths, summary.ignored = discover(settings.landing)
    with writer_lock(settings.warehouse):
        with connect(settings.warehouse) as con:
            ensure_schema(con)
        for path in paths:
            summary.outcomes.append(ingest_one(Path(path), settings, now=now))
    return summary


def ingest_one(path: Path, settings: Settings, now: dt.datetime | None = None) -> Outcome:
    """Ingest one return. The caller holds the writer lock."""
    source = _relative(path, settings.landing)
    digest = checksum(path) if path.exists() else "missing:" + source
    with connect(settings.warehouse) as con:
        ensure_schema(con)
        if already_received(con, digest):
            return Outcome(source, digest, "already_received")
    received_at = (now or dt.datetime.now(dt.timezone.utc)).replace(tzinfo=None)
    kept = archive(path, digest, settings.archive_dir) if path.exists() else None
    checked = validate_path(path, max_expanded_bytes=settings.max_expanded_bytes, reference_dir=settings.reference_dir)
    reports = _report(checked, source, digest, received_at, settings)
    placements = len(checked.tables.get("placements", ())) if checked.status != "rejected" else 0
    ledger = pd.DataFrame(
        [
            {
                "submission_id": digest,
                "source_path": source,
                "archive_path": str(kept) if kept else None,
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
                "findings_json": str(reports["json"]),
                "findings_html": str(reports["html"]),
            }
        ]
    )
    findings = checked.findings.rename(columns={"table": "table_name", "row": "row_number", "column": "column_name"})
    with connect(settings.warehouse) as con:
        con.begin()
        try:
            insert_frame(con, "ops.submissions", ledger)
            insert_frame(con, "ops.findings", findings.assign(submission_id=digest))
            if checked.status != "rejected":
                _load_tables(con, checked, digest, settings)
                refresh_current(con, checked.la_code, checked.period)
            con.commit()
        except BaseException:
            con.rollback()
            raise
    log.info(
        "return %s: %s (%d errors, %d warnings) LA %s period %s",
        source, checked.status, checked.errors, checked.warnings, checked.la_code or "?", checked.period or "?",
    )
    return Outcome(
        source, digest, checked.status, checked.la_code, checked.period.strftime("%Y-%m") if checked.period else None,
        checked.errors, checked.warnings, placements, str(reports["html"]),
    )


def _load_tables(con, checked: ValidatedReturn, digest: str, settings: Settings) -> None:
    for name, frame in checked.tables.items():
        table = checked.contract.tables[name]
        stored = protect(table, frame, checked.la_code, settings.pseudonym_key)
        stored = stored.rename(columns={ROW: "source_row"}).assign(submission_id=digest)
        insert_frame(con, f"raw.{name}", stored)


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
    return write_reports(header, checked.findings, folder, f"{received_at:%Y%m%dT%H%M%S}-{digest[:12]}")


def _relative(path: Path, landing: Path) -> str:
    try:
        return str(path.resolve().relative_to(landing.resolve()))
    except ValueError:
        return str(path)
