"""Who has sent what: the latest months of `marts.mart_submission_status`, for people and tools.

`submission_status` reads the mart that `fostering run` (and the daily status
rebuild) writes, read-only and as briefly as possible. DuckDB lets one process
write a file and refuses every other connection meanwhile, and a reader also
stops a writer from opening the file, so the read:

- first takes the warehouse's writer lock (`orchestration.warehouse.writer_lock`),
  so it waits for a run's writes to finish and a run's next write waits for the
  read (a few milliseconds), rather than failing;
- then retries while DuckDB still reports the file locked (a writer that does
  not take the writer lock);
- and gives up after `wait_s` (30 s) with `StatusUnavailable`, in plain words.
  No raw DuckDB error reaches the user.

Lateness is the mart's `late` column as of the mart's last build (marts-v1): the
daily status rebuild is what makes a missing return late on the day after its
due date. `late` is null (<NA>) when lateness is unknown: a return loaded in bulk
after its due date (history taken over) and signed off in time. Such a return is
shown as "lateness unknown", never as late, and the late-returns sensor does not
notify it; `lateness_basis` says what `late` was judged on.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import time
from pathlib import Path

import duckdb
import pandas as pd

from orchestration.errors import PlainError
from orchestration.warehouse import WarehouseBusy, connect, writer_lock

MART = "marts.mart_submission_status"

COLUMNS = [
    "la_code", "la_name", "hub", "period", "status", "late", "lateness_basis", "due_date",
    "submitted_at", "received_at", "versions", "errors", "warnings",
]

STATUSES = ("accepted", "accepted_with_warnings", "rejected", "missing")

DEFAULT_WAIT_S = 30.0


class StatusUnavailable(PlainError):
    """The submission status cannot be read just now (said in words an operator can act on)."""

    exit_status = 2


def _busy(warehouse: Path, waited: float) -> StatusUnavailable:
    return StatusUnavailable(
        f"the warehouse {warehouse} is being written by a pipeline run and was still busy after "
        f"{waited:.0f} s; try again when the run has finished"
    )


def _is_lock_error(exc: duckdb.Error) -> bool:
    text = str(exc).lower()
    # Another process holds the file (IOException "Could not set lock on file ...");
    # this process already has it open for writing ("different configuration").
    return (isinstance(exc, duckdb.IOException) and "lock" in text) or (
        isinstance(exc, duckdb.ConnectionException) and "different configuration" in text
    )


@contextlib.contextmanager
def _courtesy_lock(warehouse: Path, timeout_s: float):
    """The writers' lock, held for the read; skipped where its lock file cannot be created (read-only folder)."""
    lock = writer_lock(warehouse, timeout_s=timeout_s)
    try:
        lock.__enter__()
    except WarehouseBusy:
        raise _busy(warehouse, timeout_s) from None
    except OSError:
        yield
        return
    try:
        yield
    finally:
        lock.__exit__(None, None, None)


def _query(periods: int) -> str:
    return f"""
        select la_code, la_name, hub, period, status, late, lateness_basis, due_date,
               submitted_at, received_at, versions, errors, warnings
        from {MART}
        where period in (select distinct period from {MART} order by period desc limit {int(periods)})
        order by hub nulls last, la_name, period
    """


def _read(warehouse: Path, periods: int, wait_s: float, poll_s: float) -> pd.DataFrame:
    started = time.monotonic()
    deadline = started + wait_s
    with _courtesy_lock(warehouse, timeout_s=wait_s):
        while True:
            try:
                with connect(warehouse, read_only=True, wait_s=max(deadline - time.monotonic(), 0.0)) as con:
                    return con.execute(_query(periods)).df()
            except WarehouseBusy:  # connect waited for the file lock until our deadline
                raise _busy(warehouse, time.monotonic() - started) from None
            except duckdb.CatalogException:
                raise StatusUnavailable(
                    f"the warehouse {warehouse} has no submission status yet ({MART} does not exist): "
                    "run `fostering run` first"
                ) from None
            except duckdb.Error as exc:
                if not _is_lock_error(exc):
                    raise StatusUnavailable(f"cannot read the submission status from {warehouse}: {exc}") from None
                if time.monotonic() >= deadline:
                    raise _busy(warehouse, time.monotonic() - started) from None
                time.sleep(min(poll_s, max(deadline - time.monotonic(), 0.0)))


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(index=frame.index)
    for column in ("la_code", "la_name", "hub", "status"):
        out[column] = frame[column].astype(object).where(frame[column].notna(), None)
    out["period"] = pd.to_datetime(frame["period"]).dt.strftime("%Y-%m")
    # Nullable: <NA> is "lateness unknown" (a return loaded in bulk after its due date and
    # signed off in time: see the mart's `lateness_basis`), never read as late or on time.
    out["late"] = frame["late"].astype("boolean")
    out["lateness_basis"] = frame["lateness_basis"].astype(object).where(frame["lateness_basis"].notna(), None)
    out["due_date"] = [None if pd.isna(d) else pd.Timestamp(d).date() for d in frame["due_date"]]
    for column in ("submitted_at", "received_at"):
        out[column] = pd.to_datetime(frame[column])
    out["versions"] = frame["versions"].fillna(0).astype("int64")
    for column in ("errors", "warnings"):
        out[column] = frame[column].astype("Int64")
    return out[COLUMNS].reset_index(drop=True)


def submission_status(
    warehouse: Path, periods: int = 3, *, wait_s: float | None = None, poll_s: float = 0.5
) -> pd.DataFrame:
    """Every LA's row of mart_submission_status for the latest `periods` months.

    Columns: la_code, la_name, hub, period (YYYY-MM text), status, late (nullable
    boolean: <NA>, None in `records`, when lateness is unknown), lateness_basis (what
    `late` was judged on: received, signed_off, unknown, no_accepted_return), due_date (date), submitted_at and received_at (timestamps, NaT when missing),
    versions (int), errors and warnings (nullable ints). Ordered by hub, la_name,
    period. Raises StatusUnavailable when the warehouse or the mart does not
    exist, or a writer still holds the warehouse after `wait_s` seconds
    (default DEFAULT_WAIT_S, 30).
    """
    if periods < 1:
        raise ValueError("periods must be at least 1")
    warehouse = Path(warehouse)
    if not warehouse.is_file():
        raise StatusUnavailable(f"there is no warehouse at {warehouse}: run `fostering run` first")
    return _tidy(_read(warehouse, periods, DEFAULT_WAIT_S if wait_s is None else wait_s, poll_s))


def is_late(frame: pd.DataFrame) -> pd.Series:
    """True where a row is known to be late; unknown lateness (<NA>) is not late."""
    return frame["late"].astype("boolean").fillna(False).astype(bool)


def is_unknown(frame: pd.DataFrame) -> pd.Series:
    """True where a row's lateness is unknown."""
    return frame["late"].isna()


def lateness_words(late, status: str | None) -> str:
    """"late", "on time", "not yet due" (no accepted return, due date not passed) or "lateness unknown"."""
    if late is None or pd.isna(late):
        return "lateness unknown"
    if late:
        return "late"
    return "on time" if status in ("accepted", "accepted_with_warnings") else "not yet due"


def late_pairs(current: pd.DataFrame) -> set[tuple[str, str]]:
    """The (la_code, period) pairs that are late in `current` (unknown lateness is not late)."""
    late = current[is_late(current)]
    return set(zip(late["la_code"], late["period"], strict=True))


def _plain(value):
    """A JSON-ready value: dates and timestamps as ISO text, missing values as None, numpy scalars as Python."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if pd.api.types.is_scalar(value) and pd.isna(value):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value


def records(frame: pd.DataFrame) -> list[dict]:
    """The rows as plain dicts (JSON-ready)."""
    return [{column: _plain(row[column]) for column in frame.columns} for _, row in frame.iterrows()]


def newly_late(previous: set[tuple[str, str]], current: pd.DataFrame) -> list[dict]:
    """The LAs and periods late in `current` and not in `previous` (pairs of la_code, YYYY-MM), in `current`'s order."""
    late = current[is_late(current)]
    fresh = [(la, period) not in previous for la, period in zip(late["la_code"], late["period"], strict=True)]
    return records(late[fresh])


def summary(frame: pd.DataFrame) -> list[dict]:
    """Per period, oldest first: how many LAs in each status, how many late and how many of unknown lateness."""
    out = []
    for period, rows in sorted(frame.groupby("period"), key=lambda item: item[0]):
        counts = rows["status"].value_counts()
        out.append({"period": period, **{s: int(counts.get(s, 0)) for s in STATUSES}, "late": int(is_late(rows).sum()),
                    "lateness_unknown": int(is_unknown(rows).sum())})
    return out


def _received(value) -> str:
    return "-" if value is None or pd.isna(value) else pd.Timestamp(value).strftime("%Y-%m-%d %H:%M")


def format_text(frame: pd.DataFrame) -> str:
    """A table a person can read, grouped by hub, then one summary line per period."""
    if frame.empty:
        return "No submission status: the warehouse holds no returns yet."
    header = ("LA", "Period", "Status", "Lateness", "Due date", "Received")
    rows_by_hub: dict[str, list[tuple[str, ...]]] = {}
    for row in frame.itertuples(index=False):
        rows_by_hub.setdefault(row.hub or "(no hub)", []).append(
            (
                row.la_name or row.la_code,
                row.period,
                row.status.replace("_", " "),
                lateness_words(row.late, row.status),
                row.due_date.isoformat() if row.due_date else "-",
                _received(row.received_at),
            )
        )
    every = [header, *(r for rows in rows_by_hub.values() for r in rows)]
    widths = [max(len(r[i]) for r in every) for i in range(len(header))]

    def line(cells) -> str:
        return "  " + "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    lines: list[str] = []
    for hub, rows in rows_by_hub.items():
        lines += [hub, line(header), *(line(r) for r in rows), ""]
    for s in summary(frame):
        lines.append(
            f"{s['period']}: {s['accepted']} accepted, {s['accepted_with_warnings']} with warnings, "
            f"{s['rejected']} rejected, {s['missing']} missing; {s['late']} late"
            + (f", {s['lateness_unknown']} lateness unknown" if s["lateness_unknown"] else "")
        )
    return "\n".join(lines)
