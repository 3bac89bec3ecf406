"""Which reporting months' marts are behind their returns.

A month's marts read the current returns of the 12 months ending with it (the
rolling windows), so they are out of date when that set of returns has changed
since they were built: a return arrived, or a resubmission replaced one. Each
month's set is summarised as a fingerprint of its current submission ids; a
build records the fingerprints it built from, and a month whose fingerprint
differs from its record is pending. This is data, not clocks, so it survives a
killed run (nothing recorded, still pending) and a daemon restart alike.
"""

from __future__ import annotations

import datetime as dt

import duckdb

WINDOW_FINGERPRINTS = """
WITH current_returns AS (
    SELECT submission_id, period FROM ops.submissions
    WHERE is_current AND status <> 'rejected' AND period IS NOT NULL
), months AS (
    SELECT DISTINCT period FROM current_returns
)
SELECT m.period, bit_xor(hash(r.submission_id)) AS fingerprint
FROM months AS m
JOIN current_returns AS r
  ON r.period > m.period - INTERVAL 12 MONTH AND r.period <= m.period
GROUP BY m.period
"""


def pending(con: duckdb.DuckDBPyConnection) -> list[tuple[dt.date, int]]:
    """(month, fingerprint of its window's current returns) for each month whose marts were not built from them."""
    return con.execute(
        f"""
        SELECT w.period, w.fingerprint FROM ({WINDOW_FINGERPRINTS}) AS w
        LEFT JOIN ops.monthly_builds AS b USING (period)
        WHERE b.fingerprint IS DISTINCT FROM w.fingerprint
        ORDER BY 1
        """
    ).fetchall()


def pending_periods(con: duckdb.DuckDBPyConnection) -> list[dt.date]:
    """The months (first days) whose marts are behind their returns."""
    return [period for period, _ in pending(con)]


def record_built(con: duckdb.DuckDBPyConnection, first: dt.date | None, last: dt.date | None, run_id: str | None) -> int:
    """Record the months from `first` to `last` (all, when None) as built from their current returns."""
    rows = con.execute(
        f"""
        INSERT OR REPLACE INTO ops.monthly_builds
        SELECT period, fingerprint, now()::TIMESTAMP, $run_id FROM ({WINDOW_FINGERPRINTS})
        WHERE ($first IS NULL OR period >= $first) AND ($last IS NULL OR period <= $last)
        """,
        {"first": first, "last": last, "run_id": run_id},
    ).fetchone()
    return rows[0] if rows else 0
