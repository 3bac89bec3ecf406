"""Receive returns: keep the file, validate it, tell the LA, and load it if it passes.

Returns are checked in batches (validation's cost is per column call, not per
cell, so a batch of returns laid out alike is parsed together) and each batch
is one transaction in the warehouse: every return's ledger row, its findings
and (only if it has no error) its pseudonymised tables are written together,
so a return is either wholly in or wholly out, and a rejected one never
touches the return tables. The file is archived under its checksum before
anything else, so nothing received is ever lost. Returns already received are
recognised by their file stamps without being read again (landing_stamps.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import errno
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from orchestration import landing_stamps, progress, reference
from orchestration.parallel import batches, ordered_map
from orchestration.returns.findings import Findings, ReportHeader, write_reports
from orchestration.returns.landing import Ignored, archive, checksum, discover
from orchestration.returns.pseudonymise import protect
from orchestration.returns.readers import ROW
from orchestration.returns.rule_checks import check_contracts
from orchestration.returns.schema import load_contract
from orchestration.returns.readers import read_return
from orchestration.returns.validate import SlicedTables, ValidatedBatch, ValidatedReturn, cut_runs, validate_batch
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
    tables: SlicedTables  # pseudonymised; empty when rejected
    outcome: Outcome
    checked: ValidatedReturn | None = None  # without its tables: to reject it should it fail to store
    kept: Path | None = None


def ingest_landing(settings: Settings, paths: list[Path] | None = None, now: dt.datetime | None = None) -> IngestSummary:
    """Ingest every return in the landing folder (or just `paths`) that has not been received before.

    Batches of returns are checked in parallel worker processes (reading,
    validating and pseudonymising are independent per return); this process
    alone writes, one transaction per batch, in landing order, holding the
    warehouse's writer lock.
    """
    settings.require_real_key()
    check_contracts(settings.reference_dir)
    summary = IngestSummary()
    whole_folder = paths is None  # else only `paths` are looked at, and no other return's record is forgotten
    if whole_folder:
        paths, summary.ignored = discover(settings.landing)
    received_at = (now or dt.datetime.now(dt.timezone.utc)).replace(tzinfo=None)
    with writer_lock(settings.warehouse):
        with connect(settings.warehouse) as con:
            ensure_schema(con)
            seen = {row[0] for row in con.execute("SELECT submission_id FROM ops.submissions").fetchall()}
            known = {} if settings.rehash_landing else landing_stamps.recorded(con)
        stamped_ns = time.time_ns()  # before any file is stamped: the records' seen_at
        with progress.current().counter("Looking for new returns", len(paths), "files") as looked:
            todo, fresh, listed = _new_returns(map(Path, paths), settings, seen, known, summary, looked)
        with connect(settings.warehouse) as con, progress.current().counter("Checking and storing new returns", len(todo)) as done:
            jobs = [(batch, settings, received_at) for batch in _batches(todo)]
            for prepared in ordered_map(_prepare_batch, jobs, chunksize=1, parallel_from=2):
                stored = _store_isolated(con, prepared, settings, received_at)
                summary.outcomes.extend(p.outcome for p in stored)
                done.advance(len(prepared))
            # Only now, every checksum hashed is on the ledger: a record never points at a return not stored.
            landing_stamps.record(con, fresh, stamped_ns, listed if whole_folder else None)
    return summary


def _new_returns(paths, settings: Settings, seen: set[str], known: dict, summary: IngestSummary, looked=None):
    """The returns not received before, with their checksums; the (source, stamp, checksum) of
    those hashed, to record; and every return's source path.

    A return whose stamp is its record's is already received without being read, but only while
    the recorded checksum is on the ledger (`seen`): whatever is to be ingested is hashed now.
    """
    todo, fresh, listed = [], [], []
    for path in paths:
        if looked is not None:
            looked.advance()
        source = _relative(path, settings.landing)
        listed.append(source)
        stamp = landing_stamps.stamp(path)  # before hashing: a change while hashing leaves the stamp stale, never trusted
        digest = landing_stamps.recorded_digest(known, source, stamp)
        if digest not in seen:
            try:
                digest = checksum(path)
            except OSError as exc:  # gone, or swapped for a link, since it was found: nothing to read
                if is_storage_fault(exc):
                    raise
                summary.ignored.append(Ignored(path, f"could not be read when its turn came ({exc.strerror or type(exc).__name__}): it is looked at again next run"))
                continue
            if stamp is not None:
                fresh.append((source, stamp, digest))
        if digest in seen:
            summary.outcomes.append(Outcome(source, digest, "already_received"))
            continue
        seen.add(digest)
        todo.append((path, digest))
    return todo, fresh, listed


# A batch big enough that parsing cost per call is spread thin, small enough that
# every core gets several and a worker's batch stays a few tens of megabytes.
BATCH_RETURNS = 50


def _batches(todo: list, workers: int | None = None) -> list[list]:
    return batches(todo, BATCH_RETURNS, workers)


def _prepare_batch(job) -> list[Prepared]:
    """Prepare a batch together; should that fail, each return alone, so one bad file rejects only itself."""
    batch, settings, received_at = job
    try:
        return prepare_many(batch, settings, received_at)
    except Exception as exc:  # noqa: BLE001 - the returns are retried one by one, and any failure is reported there
        if is_storage_fault(exc):
            raise
        log.warning("a batch of %d returns could not be checked together; checking them one by one", len(batch))
        return [_prepare_safely((path, digest, settings, received_at)) for path, digest in batch]


def _prepare_safely(job) -> Prepared:
    """Prepare one return; a failure of the pipeline itself rejects that return, not the run."""
    path, digest, settings, received_at = job
    try:
        return prepare(path, digest, settings, received_at)
    except Exception as exc:  # noqa: BLE001 - reported on the ledger and in the log, never lost
        if is_storage_fault(exc):
            raise  # the data folder's fault (full, read-only), not the return's: the run stops, the return waits
        log.exception("could not check return %s", _relative(path, settings.landing))
        findings = Findings()
        findings.add(
            "PIPELINE-ERROR", "error",
            f"the pipeline could not check this return ({type(exc).__name__}); it has been kept and the operators can see why in the log",
        )
        checked = ValidatedReturn(path=path, form=None, contract=load_contract(), tables={}, findings=findings.frame())
        kept = _archived(path, digest, settings)
        return _prepared(checked, path, digest, settings, received_at, kept, tables=SlicedTables())


def _archived(path: Path, digest: str, settings: Settings) -> Path | None:
    """The return's archived copy; None when it has gone (or become a link) since it was found,
    which the reader then reports. A full or read-only data folder stops the run instead."""
    try:
        return archive(path, digest, settings.archive_dir)
    except OSError as exc:
        if is_storage_fault(exc) or isinstance(exc, PermissionError):
            raise
        log.warning("return %s could not be archived: %s", _relative(path, settings.landing), exc.strerror)
        return None


def prepare(path: Path, digest: str, settings: Settings, received_at: dt.datetime) -> Prepared:
    """Archive, validate, report and (when accepted) pseudonymise one return."""
    return prepare_many([(path, digest)], settings, received_at)[0]


def prepare_many(batch: list[tuple[Path, str]], settings: Settings, received_at: dt.datetime) -> list[Prepared]:
    """Archive, validate, report and (when accepted) pseudonymise a batch of returns."""
    kept = [_archived(path, digest, settings) for path, digest in batch]
    read = [(path, read_return(path, settings.max_expanded_bytes)) for path, _ in batch]
    validated = validate_batch(read, reference_dir=settings.reference_dir)
    checked = validated.returns
    stored = _protected(validated, [digest for _, digest in batch], settings)
    return [
        _prepared(c, path, digest, settings, received_at, k, tables)
        for c, (path, digest), k, tables in zip(checked, batch, kept, stored)
    ]


def _prepared(
    checked: ValidatedReturn, path: Path, digest: str, settings: Settings, received_at: dt.datetime, kept, tables: SlicedTables
) -> Prepared:
    source = _relative(path, settings.landing)
    reports = _report(checked, source, digest, received_at, settings)
    placements = tables.rows("placements")
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
    return Prepared(
        ledger, findings.assign(submission_id=digest), tables, outcome,
        checked=dataclasses.replace(checked, tables={}), kept=kept,
    )


# Failures of the warehouse itself (its disk, its memory, its file), not of what a return holds:
# retrying return by return cannot help, and rejecting returns for them would be wrong.
WAREHOUSE_FAULTS = (duckdb.IOException, duckdb.OutOfMemoryException, duckdb.FatalException, OSError, MemoryError)
STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO}


def is_storage_fault(exc: BaseException) -> bool:
    """A full, read-only or failing disk under the data folder: no return is to blame."""
    return isinstance(exc, MemoryError) or isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS


class _TableNotStored(Exception):
    """One table of a batch could not be inserted (which one, and why)."""

    def __init__(self, table: str, cause: BaseException) -> None:
        super().__init__(f"{table}: {type(cause).__name__}")
        self.table, self.cause = table, cause


def _store_isolated(con, batch: list[Prepared], settings: Settings, received_at: dt.datetime) -> list[Prepared]:
    """Store a batch; should that fail because of what a return holds, store it return by return,
    rejecting (with a finding) a return that still cannot be stored, so the rest of the batch lands.

    Validation decides what can be stored, so this is a second line of defence: a return can only
    ever be rejected, never fail the batch, the run or a later run (its rejection is on the ledger,
    so it is not tried again). A fault of the warehouse itself is raised, never blamed on a return.
    """
    try:
        _store(con, batch)
        return batch
    except _TableNotStored as exc:
        log.warning("a batch of %d returns could not be stored together (%s); storing them one by one", len(batch), exc)
    stored = []
    for one in batch:
        try:
            _store(con, [one])
            stored.append(one)
        except _TableNotStored as exc:
            log.error("return %s could not be stored (%s: %s): rejected", one.outcome.source, exc.table, exc.cause)
            rejected = _unstorable(one, exc.table, settings, received_at)
            try:
                _store(con, [rejected])
            except _TableNotStored:  # then its other findings were what could not be stored: keep the one that says so
                rejected = _unstorable(one, exc.table, settings, received_at, keep_findings=False)
                _store(con, [rejected])
            stored.append(rejected)
    return stored


def _unstorable(p: Prepared, table: str, settings: Settings, received_at: dt.datetime, keep_findings: bool = True) -> Prepared:
    """The return rejected, with a finding that says which table the warehouse refused."""
    findings = Findings()
    findings.add(
        "STORE-FAILED", "error",
        f"the '{table}' table of this return passed every check but the warehouse could not store it; "
        "nothing of the return was stored; the operators can see why in the log",
        table=table,
    )
    others = [p.checked.findings] if keep_findings else []
    checked = dataclasses.replace(p.checked, findings=pd.concat([findings.frame(), *others], ignore_index=True))
    return _prepared(checked, checked.path, p.ledger["submission_id"], settings, received_at, p.kept, tables=SlicedTables())


def _store(con, batch: list[Prepared]) -> None:
    """One batch, one transaction: ledger rows, findings, and the tables of the accepted returns."""
    con.begin()
    try:
        _insert(con, "ops.submissions", pd.DataFrame([p.ledger for p in batch]))
        _insert(con, "ops.findings", _stacked([p.findings for p in batch]))
        for name in dict.fromkeys(name for p in batch for name in p.tables):
            _insert(con, f"raw.{name}", _batch_rows([p.tables for p in batch if name in p.tables], name))
        refresh_current(con, [(p.ledger["la_code"], p.ledger["period"]) for p in batch if p.ledger["status"] != "rejected"])
        con.commit()
    except BaseException:
        with contextlib.suppress(duckdb.TransactionException):  # a failed commit (a full disk) has rolled back already
            con.rollback()
        raise
    for o in (p.outcome for p in batch):
        log.info("return %s: %s (%d errors, %d warnings) LA %s period %s", o.source, o.status, o.errors, o.warnings, o.la_code or "?", o.period or "?")


def _insert(con, target: str, frame: pd.DataFrame) -> None:
    """`insert_frame`, a refusal of what the frame holds named by its table; a fault of the warehouse itself is raised as it is."""
    try:
        insert_frame(con, target, frame)
    except WAREHOUSE_FAULTS:
        raise
    except Exception as exc:  # noqa: BLE001 - what a return holds: _store_isolated rejects that return
        raise _TableNotStored(target.split(".")[-1], exc) from exc


def _batch_rows(tables: list[SlicedTables], name: str) -> pd.DataFrame:
    """A table's rows of these returns: taken whole, as pseudonymisation stacked them, when they
    are every return those rows came from and none was cut out and changed; else each return's
    own rows stacked (a batch stored return by return, or of two contract versions)."""
    runs = [t.uncut(name) for t in tables]
    if all(runs) and len({id(stacked) for stacked, _, _ in runs}) == 1 and sum(b - a for _, a, b in runs) == len(runs[0][0]):
        return runs[0][0]
    return _stacked([t[name] for t in tables])


def _stacked(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The frames one under another; empty ones left out (their all-null columns would set the dtypes)."""
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _protected(validated: ValidatedBatch, digests: list[str], settings: Settings) -> list[SlicedTables]:
    """Each accepted return's tables as they may be stored; nothing for a rejected one.

    Each table's rows of the whole batch, stacked as validation typed them, are pseudonymised
    together (a call per column and contract version, whatever the batch); each return's tables
    are runs of those rows, which `_store` inserts as they are.
    """
    checked = validated.returns
    out = [SlicedTables() for _ in checked]
    accepted = np.array([c.status != "rejected" for c in checked], dtype=bool)
    la_codes = np.array([c.la_code for c in checked], dtype=object)
    versions = np.array([c.contract.version for c in checked], dtype=object)
    ids = np.array(digests, dtype=object)
    for name, frame in validated.tables.items():
        whose = frame["_return"].to_numpy()
        for version in dict.fromkeys(versions[whose[accepted[whose]]]):
            part = frame[accepted[whose] & (versions[whose] == version)].sort_values("_return", kind="stable")
            owner = part["_return"].to_numpy()
            table = checked[owner[0]].contract.tables[name]
            part = protect(table, part[[ROW, *table.column_names]].reset_index(drop=True), pd.Series(la_codes[owner]), settings.pseudonym_key)
            part = part.rename(columns={ROW: "source_row"}).assign(submission_id=ids[owner])
            cut_runs(out, name, part, owner, empty=False)
    return out


def _report(checked: ValidatedReturn, source: str, digest: str, received_at: dt.datetime, settings: Settings) -> dict[str, Path]:
    la_name = reference.la_name(checked.la_code, settings.reference_dir) if checked.la_code else None
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
    """A return's source path, relative to the landing folder; taken without resolving links (a system
    call per part of the path, seconds for a national folder) for a path found under it."""
    if path.is_absolute() and ".." not in path.parts:
        with contextlib.suppress(ValueError):
            return str(path.relative_to(landing))
    try:
        return str(path.resolve().relative_to(landing.resolve()))
    except ValueError:
        return str(path)
