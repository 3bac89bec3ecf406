"""The DuckDB warehouse: its ledger and raw tables, and the one-writer rule.

DuckDB allows one writing process, so every writer takes `writer_lock` first
and opens its connection in a `with` block. The raw tables are generated from
every known contract version; a column a later version adds is added to the
table, so the schema only ever grows.
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import pandas as pd

from orchestration.errors import PlainError
from orchestration.locks import exclusive_lock
from orchestration.settings import load_settings
from orchestration.returns.schema import warehouse_columns

SCHEMAS = ("ops", "raw")

LEDGER_DDL = """
CREATE TABLE IF NOT EXISTS ops.submissions (
    submission_id      VARCHAR PRIMARY KEY,   -- SHA-256 of the file as received
    source_path        VARCHAR NOT NULL,      -- where it was found, relative to the landing folder
    archive_path       VARCHAR,               -- relative to the data folder, like the findings paths
    form               VARCHAR,               -- xlsx | zip | folder; NULL when unreadable
    la_code            VARCHAR,               -- ONS GSS code; NULL when not identified
    la_code_submitted  VARCHAR,
    period             DATE,
    return_version     VARCHAR,
    contract_version   VARCHAR,
    submitted_at       TIMESTAMP,
    received_at        TIMESTAMP NOT NULL,
    status             VARCHAR NOT NULL,      -- accepted | accepted_with_warnings | rejected
    errors             INTEGER NOT NULL,
    warnings           INTEGER NOT NULL,
    is_current         BOOLEAN NOT NULL,
    superseded_by      VARCHAR,
    placement_rows     INTEGER,
    findings_json      VARCHAR,
    findings_html      VARCHAR
);
CREATE TABLE IF NOT EXISTS ops.findings (
    submission_id  VARCHAR NOT NULL,
    code           VARCHAR NOT NULL,
    severity       VARCHAR NOT NULL,
    table_name     VARCHAR,
    row_number     INTEGER,
    column_name    VARCHAR,
    column_letter  VARCHAR,
    value          VARCHAR,
    expected       VARCHAR
);
CREATE TABLE IF NOT EXISTS ops.landing_files (
    source_path    VARCHAR PRIMARY KEY,   -- a return in the landing folder, relative to it, as in ops.submissions
    stamp          VARCHAR NOT NULL,      -- size:mtime_ns:ctime_ns:inode; for a CSV folder a digest of its CSV files' names and stamps
    ctime_ns       BIGINT NOT NULL,       -- its (newest) status change: trusted only if well before seen_at (landing_stamps.py)
    submission_id  VARCHAR NOT NULL,      -- the checksum it had with that stamp
    seen_at        TIMESTAMP NOT NULL     -- UTC, when it was stamped, before it was hashed
);
CREATE TABLE IF NOT EXISTS ops.completed_runs (
    fingerprint  VARCHAR NOT NULL,    -- of the inputs of the last run that ended published (up_to_date.py)
    finished_at  TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS ops.monthly_builds (
    period       DATE PRIMARY KEY,   -- a reporting month whose marts were built
    fingerprint  UBIGINT NOT NULL,   -- of the current returns in its 12-month window when they were
    built_at     TIMESTAMP NOT NULL,
    run_id       VARCHAR
);
"""


class WarehouseBusy(PlainError):
    """Another process is writing the warehouse."""

    exit_status = 2


def writer_lock(warehouse: Path, timeout_s: float = 600.0):
    """Hold the warehouse's writer lock; wait up to `timeout_s`, then say who to wait for."""
    lock_path = warehouse.with_name(warehouse.name + ".lock")
    busy = WarehouseBusy(f"another run is writing {warehouse} (lock {lock_path}); try again when it has finished")
    return exclusive_lock(lock_path, busy, timeout_s)


def connect(warehouse: Path, read_only: bool = False, wait_s: float = 120.0) -> duckdb.DuckDBPyConnection:
    """Open the warehouse, waiting while another process holds DuckDB's file lock.

    Our own runs take turns through `writer_lock`; this covers what that lock
    cannot see, such as a dbt process left running by a run that was killed.
    """
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            # FOSTERING_DUCKDB_MEMORY_LIMIT (dbt's profile reads it too): beyond it DuckDB spills to disk
            return duckdb.connect(str(warehouse), read_only=read_only, config={"memory_limit": load_settings().duckdb_memory_limit})
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            if time.monotonic() > deadline:
                raise WarehouseBusy(
                    f"{warehouse} is still in use by another process after {wait_s:.0f}s; try again when it has finished"
                ) from None
            time.sleep(0.5)


def raw_table_ddl() -> list[str]:
    statements = []
    for table, columns in warehouse_columns().items():
        cols = ",\n    ".join(f"{c.name} {'VARCHAR' if c.pseudonymise else c.sql_type}" for c in columns)
        statements.append(
            f"CREATE TABLE IF NOT EXISTS raw.{table} (\n    submission_id VARCHAR NOT NULL,\n    source_row INTEGER NOT NULL,\n    {cols}\n)"
        )
        # A later contract version's new column reaches a table created under an older one.
        statements.extend(f"ALTER TABLE raw.{table} ADD COLUMN IF NOT EXISTS {c.name} {c.sql_type}" for c in columns)
    return statements


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    for schema in SCHEMAS:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    con.execute(LEDGER_DDL)
    for statement in raw_table_ddl():
        con.execute(statement)


def insert_frame(con: duckdb.DuckDBPyConnection, target: str, frame: pd.DataFrame, replace: bool = False) -> None:
    """Insert `frame`'s rows by column name; `replace`: a row whose key is there already replaces it."""
    if frame.empty:
        return
    con.register("incoming", frame)
    try:
        con.execute(f"INSERT {'OR REPLACE ' if replace else ''}INTO {target} BY NAME SELECT * FROM incoming")
    finally:
        con.unregister("incoming")


def refresh_current(con: duckdb.DuckDBPyConnection, months: list[tuple[str, object]]) -> None:
    """For each (LA, period) given: the accepted return with the latest submitted_at (ties: latest
    arrival) is current; the others point at it."""
    if not months:
        return
    con.register("touched", pd.DataFrame(list(dict.fromkeys(months)), columns=["la_code", "period"]))
    try:
        con.execute(
            """
            WITH ranked AS (
                SELECT s.submission_id,
                       first_value(s.submission_id) OVER (
                           PARTITION BY s.la_code, s.period
                           ORDER BY s.submitted_at DESC NULLS LAST, s.received_at DESC, s.submission_id DESC
                       ) AS winner
                FROM ops.submissions AS s
                JOIN touched AS t ON s.la_code = t.la_code AND s.period = CAST(t.period AS DATE)
                WHERE s.status <> 'rejected'
            )
            UPDATE ops.submissions AS s
            SET is_current = (s.submission_id = r.winner),
                superseded_by = CASE WHEN s.submission_id = r.winner THEN NULL ELSE r.winner END
            FROM ranked AS r
            WHERE s.submission_id = r.submission_id
            """
        )
    finally:
        con.unregister("touched")


def table_counts(warehouse: Path) -> dict[str, int]:
    """Rows in every ops and raw table (for summaries and tests)."""
    with connect(warehouse, read_only=True) as con:
        names = con.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables WHERE table_schema IN ('ops', 'raw') ORDER BY 1"
        ).fetchall()
        return {n: con.execute(f"SELECT count(*) FROM {n}").fetchone()[0] for (n,) in names}
