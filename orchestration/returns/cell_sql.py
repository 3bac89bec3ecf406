"""Clean and type the text cells of a whole batch of returns in one DuckDB query.

CSV cells arrive as Arrow strings. One query over the batch's stacked table
(every return of the batch laid out alike, one under another) strips each
cell, drops blank rows, marks Excel errors and parses every cell written in
its type's plain form: `-12` or `525.50` for numbers, `2023-09-30` for dates,
`2023-09` for months, a code spelt as its list spells it. Those are nearly all
the cells of a return.

A cell in any other spelling (`1,234`, `£525`, `2023-9-5`, `u4`, `1e3`) is left
unparsed here and goes to the column parsers of `cells` with the workbook's
cells, which accept every form the contract allows and say what was expected
when a cell is none of them. So each cell gets the same value and the same
finding whichever way it went, and the plain forms are chosen so that SQL
and pandas agree on them exactly (a bounded number of digits, a year from
1000, nothing DuckDB alone would accept such as `1_000`).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from orchestration.returns.cells import EXCEL_ERRORS
from orchestration.returns.readers import ROW
from orchestration.returns.schema import Contract, Table

OWNER = "_member"  # which return of the batch a row is from (its position)
# What Python's str.strip removes: the workbook path strips with it, so this path must too.
# Written out (tests/test_cell_sql.py checks it against every code point's isspace()):
# working it out at import took 0.4 s in every process, the run's and each worker's.
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
# DuckDB's trim with a set of characters is slow (about 40 ms per 100,000 cells); a cell with
# whitespace at either end is rare, so only those are trimmed.
_EDGE = f"^[{WHITESPACE}]|[{WHITESPACE}]$"
_NUMBER = r"-?[0-9]{1,15}(\.[0-9]{1,15})?"  # counts and money alike
_DATE = r"[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}"
_MONTH = r"[1-9][0-9]{3}-[0-9]{2}"


@dataclass
class CleanCells:
    """The batch's non-blank rows: who each is from, its row, and per column its cleaned text,
    whether it holds an Excel error, and its value when written plainly (missing otherwise; no
    entry for a column the pandas parsers type whole: text, and every column of a workbook)."""

    owner: np.ndarray
    rows: pd.Series
    text: dict[str, pd.Series]
    excel_error: dict[str, pd.Series]
    parsed: dict[str, pd.Series]


def _parsed_sql(column, t: str) -> str | None:
    """SQL for the value of a plainly written cell `t` of `column` (NULL otherwise); None for text,
    whose cleaned cell is its value."""
    if column.type in ("int", "money"):
        return f"CASE WHEN regexp_full_match({t}, '{_NUMBER}') THEN CAST({t} AS DOUBLE) END"
    if column.type == "date":
        return f"CAST(CASE WHEN regexp_full_match({t}, '{_DATE}') THEN TRY_CAST({t} AS DATE) END AS TIMESTAMP)"
    if column.type == "period":
        return f"CAST(CASE WHEN regexp_full_match({t}, '{_MONTH}') THEN TRY_CAST({t} || '-01' AS DATE) END AS TIMESTAMP)"
    if column.type == "code":
        return f"CASE WHEN list_contains($codes_{column.code_list}, {t}) THEN {t} END"
    if column.type == "text":
        return None
    return "NULL::TIMESTAMP"  # a date and time: one cell a return, typed by the column parsers


def batch_query(table: Table, contract: Contract) -> tuple[str, dict]:
    """The query over `stacked` (OWNER, ROW, then every column of `table` as text) and its parameters."""
    params: dict = {"ws": WHITESPACE, "edge": _EDGE, "excel_errors": sorted(EXCEL_ERRORS)}
    trimmed = ", ".join(
        f"nullif(CASE WHEN regexp_matches(\"{c.name}\", $edge) THEN trim(\"{c.name}\", $ws) ELSE \"{c.name}\" END, '') AS t{i}"
        for i, c in enumerate(table.columns)
    )
    outputs = []
    for i, column in enumerate(table.columns):
        t = f"t{i}"
        if column.type == "code":
            params[f"codes_{column.code_list}"] = list(contract.code_lists[column.code_list].codes)
        outputs += [t, f"coalesce(list_contains($excel_errors, {t}), false) AS e{i}"]
        if (parsed := _parsed_sql(column, t)) is not None:
            outputs.append(f"{parsed} AS p{i}")
    not_blank = " OR ".join(f"t{i} IS NOT NULL" for i in range(len(table.columns))) or "false"
    sql = (
        f"SELECT {OWNER}, {ROW}, {', '.join(outputs)} FROM "
        f"(SELECT _i, {OWNER}, {ROW}, {trimmed} FROM (SELECT row_number() OVER () AS _i, * FROM stacked)) "
        f"WHERE {not_blank} ORDER BY _i"
    )
    return sql, params


def clean_and_parse(con: duckdb.DuckDBPyConnection, table: Table, contract: Contract, stacked: pa.Table) -> CleanCells:
    """One query for the whole batch: `stacked` holds OWNER, ROW and each column of `table` as strings."""
    sql, params = batch_query(table, contract)
    con.register("stacked", stacked)
    try:
        result = con.sql(sql, params=params).to_arrow_table()
    finally:
        con.unregister("stacked")
    as_series = lambda name, **kw: pd.Series(result[name].to_numpy(zero_copy_only=False), **kw)  # noqa: E731
    text, errors, parsed = {}, {}, {}
    for i, column in enumerate(table.columns):
        text[column.name] = as_series(f"t{i}", dtype=object)
        errors[column.name] = as_series(f"e{i}", dtype=bool)
        if column.type == "text":
            continue
        if column.type == "code":
            parsed[column.name] = as_series(f"p{i}", dtype=object)
        elif column.type in ("date", "datetime", "period"):
            parsed[column.name] = as_series(f"p{i}").astype("datetime64[us]")
        else:
            parsed[column.name] = as_series(f"p{i}", dtype="float64")
    return CleanCells(result[OWNER].to_numpy(), as_series(ROW, dtype="int64"), text, errors, parsed)


def stack(tables: list[dict], table: Table) -> pa.Table:
    """The batch's columns of `table`, one return under another, as strings (a missing column all null)."""
    parts = []
    for member, columns in enumerate(tables):
        rows = columns[ROW]
        n = len(rows)
        arrays = [pa.array(np.full(n, member, dtype=np.int32)), pa.array(rows, type=pa.int64())]
        for column in table.columns:
            found = columns.get(column.name)
            arrays.append(pa.nulls(n, pa.string()) if found is None else found.cast(pa.string()))
        parts.append(pa.Table.from_arrays(arrays, names=[OWNER, ROW, *table.column_names]))
    return pa.concat_tables(parts)
