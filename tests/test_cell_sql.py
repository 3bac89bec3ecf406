"""CSV cells typed in SQL (`cell_sql`) get exactly the value and finding the pandas parsers give.

SQL parses the plain spellings; every other spelling is left to the pandas parsers. These tests
put the awkward spellings of each type through both ways and compare, cell by cell.
"""

from __future__ import annotations

import dataclasses

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from orchestration.returns import cell_sql, cells
from orchestration.returns.readers import ROW
from orchestration.returns.schema import Table, load_contract
from orchestration.returns.validate import _parse, _parse_all

SPELLINGS = {
    "int": ["12", "-3", "0", "-0", "007", "5.", "5.0", "12.5", " 7 ", "\u00a07\u3000", "1,234", "1_000", "1e3", "+4",
            "abc", "9007199254740993", "123456789012345678", "inf", "NaN", "#N/A", "", "   "],
    "money": ["525.50", "£525.50", "-£3", "- £ 3", "525.555", "-1.234", "1,234.56", "0.125", "1e400", "£", "1_000.5"],
    "date": ["2023-09-30", "2023-9-5", "2023-02-30", "0999-01-01", "1066-10-14", "2023-09-30 10:00", "2023-09-30T10:00:00",
             "30/09/2023", "2023-09-30x", "45000"],
    "period": ["2023-09", "2023-13", "2023-09-15", "2023-9", "1899-12", "09-2023"],
    "code": ["mainstream", "Mainstream", "MAINSTREAM", " connected ", "other", "mainstream\u2028"],
    "datetime": ["2023-10-05 10:00:00", "2023-10-05T10:00", "2023-10-05", "yesterday"],
    "text": ["a name", "  padded  ", "\u3000x", "#REF!"],
}
COLUMNS = {"int": ("recruitment", "enquiries"), "money": ("finance", "actual"), "date": ("placements", "date_of_birth"),
           "period": ("submission", "period"), "code": ("recruitment", "carer_type"),
           "datetime": ("submission", "submitted_at"), "text": ("submission", "contact_email")}


def _one_column_table(kind: str) -> tuple[Table, object]:
    contract = load_contract()
    table_name, column_name = COLUMNS[kind]
    column = contract.tables[table_name].column(column_name)
    assert column.type == kind
    return dataclasses.replace(contract.tables[table_name], columns=(column,)), column


def _typed_in_sql(table: Table, column, contract, spelt: list[str]) -> cell_sql.CleanCells:
    """One return's column of `spelt` cells (rows 2, 3, ...) through `cell_sql`."""
    stacked = pa.table({
        cell_sql.OWNER: pa.array(np.zeros(len(spelt), dtype=np.int32)),
        ROW: pa.array(np.arange(2, len(spelt) + 2), type=pa.int64()),
        column.name: pa.array(spelt, type=pa.string()),
    })
    with duckdb.connect() as con:
        return cell_sql.clean_and_parse(con, table, contract, stacked)


@pytest.mark.parametrize("kind", sorted(SPELLINGS))
def test_sql_typing_gives_what_the_pandas_parsers_give(kind):
    contract = load_contract()
    table, column = _one_column_table(kind)
    spelt = SPELLINGS[kind]
    clean = _typed_in_sql(table, column, contract, spelt)

    by_pandas = cells.clean(pd.Series(spelt, dtype=object))
    kept = by_pandas.notna()
    by_pandas = by_pandas[kept].reset_index(drop=True)
    assert clean.rows.tolist() == (np.flatnonzero(kept) + 2).tolist()  # blank rows dropped alike
    assert clean.text[column.name].tolist() == by_pandas.tolist()
    assert clean.excel_error[column.name].tolist() == by_pandas.isin(cells.EXCEL_ERRORS).tolist()

    raw = clean.text[column.name].mask(clean.excel_error[column.name], None)
    values, problems = _parse(column, raw, contract, clean.parsed.get(column.name))  # as validation calls it
    expected_values, expected_problems = _parse_all(column, raw, contract)
    pd.testing.assert_series_equal(values.reset_index(drop=True), expected_values.reset_index(drop=True), check_dtype=False, check_names=False)
    assert problems.tolist() == expected_problems.tolist()


def test_sql_parses_the_plain_spellings_and_leaves_the_rest():
    """The split itself: what SQL typed, and that DuckDB-only spellings are not among it."""
    contract = load_contract()
    table, column = _one_column_table("int")
    spelt = ["12", "-3", "1_000", "1,234", "1e3", "+4"]
    clean = _typed_in_sql(table, column, contract, spelt)
    assert clean.parsed[column.name].tolist()[:2] == [12.0, -3.0]
    assert clean.parsed[column.name].iloc[2:].isna().all()


def test_python_whitespace_is_the_whitespace_trimmed():
    assert cell_sql.WHITESPACE == "".join(ch for ch in map(chr, range(0x110000)) if ch.isspace())
    assert "\u00a0" in cell_sql.WHITESPACE and "\u3000" in cell_sql.WHITESPACE
