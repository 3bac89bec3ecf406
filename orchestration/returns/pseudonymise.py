"""Pseudonymise identifiers and degrade dates of birth before anything is stored.

The pseudonym is HMAC-SHA256(key, "<GSS code>:<identifier>") in hex, as the
contract says: the same child keeps the same pseudonym across months, two LAs'
children never collide, and without the key nobody can go back. It is computed
in DuckDB (HMAC spelt out over its built-in sha256), a whole column at a time.
"""

from __future__ import annotations

import hashlib
import hmac
import threading

import duckdb
import pandas as pd

from orchestration.returns.schema import Table

_BLOCK = 64  # SHA-256 block size in bytes
_local = threading.local()


def _connection() -> duckdb.DuckDBPyConnection:
    """This thread's in-memory DuckDB: opening one costs more than hashing a return's column."""
    if getattr(_local, "con", None) is None:
        _local.con = duckdb.connect()
    return _local.con


def _pads(key: str) -> tuple[bytes, bytes]:
    raw = key.encode("utf-8")
    if len(raw) > _BLOCK:
        raw = hashlib.sha256(raw).digest()
    raw = raw.ljust(_BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in raw), bytes(b ^ 0x5C for b in raw)


def pseudonym(key: str, la_code: str, identifier: str) -> str:
    """One pseudonym, the slow obvious way: for tests and for looking one child up."""
    return hmac.new(key.encode("utf-8"), f"{la_code}:{identifier}".encode("utf-8"), hashlib.sha256).hexdigest()


def pseudonymise_column(values: pd.Series, la_code: str | pd.Series, key: str) -> pd.Series:
    """Pseudonyms for a column of identifiers, of one LA (a code) or of several (a code per value)."""
    ipad, opad = _pads(key)
    la = la_code.astype(object).values if isinstance(la_code, pd.Series) else la_code
    frame = pd.DataFrame({"identifier": values.astype(object), "la": la}, index=values.index)
    con = _connection()
    con.register("ids", frame)
    try:
        hashed = con.execute(
            """
            SELECT CASE WHEN identifier IS NULL THEN NULL
                   ELSE sha256($opad || unhex(sha256($ipad || encode(la || ':' || identifier)))) END
            FROM ids
            """,
            {"ipad": ipad, "opad": opad},
        ).fetchnumpy()
    finally:
        con.unregister("ids")
    return pd.Series(next(iter(hashed.values())), index=values.index, dtype=object)


def protect(table: Table, frame: pd.DataFrame, la_code: str | pd.Series, key: str) -> pd.DataFrame:
    """The table as it may be stored: identifiers pseudonymised, dates of birth to the first of the month.

    `la_code` is the LA of every row, or a code per row for the tables of several returns stacked.
    """
    out = frame.copy()
    for column in table.columns:
        if column.pseudonymise:
            out[column.name] = pseudonymise_column(out[column.name], la_code, key)
        if column.degrade == "month":
            out[column.name] = out[column.name].dt.to_period("M").dt.to_timestamp()
    return out
