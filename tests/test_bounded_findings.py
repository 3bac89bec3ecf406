"""Bounded findings (issue 12): a return full of mistakes gets a list an LA can read.

At most 100 findings are listed per problem (code) in each table and column,
then one summary finding says how many more there were; the reports say the
list was cut. Garbage in place of a table is rejected with a short list,
whatever its size. How fast that is lives in bench/garbage.py, not here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from orchestration.returns.findings import MAX_FINDINGS_PER_COLUMN, Findings, ReportHeader, write_reports
from orchestration.returns.validate import validate_path
from orchestration.returns.writers import write_return
from tests.fixtures.garbage import garbage_return, garbage_table_return
from tests.fixtures.returns import good_tables

LIMIT = 100 * 1024 * 1024


def _many_placements(n: int, bad: dict[str, int]) -> dict[str, pd.DataFrame]:
    """The good return with `n` placements, the first `bad[column]` of them holding 'not a value' in that column."""
    tables = good_tables()
    one = tables["placements"].iloc[[0]]
    placements = pd.concat([one] * n, ignore_index=True)
    placements["child_id"] = [f"RAWCHILD-{i:04d}" for i in range(n)]
    for column, count in bad.items():
        placements[column] = placements[column].astype(object)
        placements.loc[: count - 1, column] = "not a value"
    tables["placements"] = placements
    return tables


def _of(findings: pd.DataFrame, code: str, column: str | None) -> pd.DataFrame:
    picked = findings[(findings["code"] == code) & (findings["table"] == "placements")]
    return picked[picked["column"].isna()] if column is None else picked[picked["column"] == column]


def _summaries(findings: pd.DataFrame) -> pd.DataFrame:
    return findings[findings["expected"].astype(str).str.startswith("… and ")]


@pytest.mark.parametrize("form", ["folder", "xlsx"])
def test_250_bad_cells_of_a_column_give_100_findings_and_one_summary(tmp_path: Path, form: str):
    path = write_return(_many_placements(260, {"weekly_cost": 250}), tmp_path / f"r.{form}" if form != "folder" else tmp_path / "r", form)
    result = validate_path(path, max_expanded_bytes=LIMIT)
    assert result.status == "rejected"
    found = _of(result.findings, "CELL-WRONG-TYPE", "weekly_cost")
    assert len(found) == 101
    listed, summary = found.iloc[:100], found.iloc[100]
    assert listed["row"].tolist() == list(range(2, 102))  # the first 100 rows, in order
    assert (listed["value"] == "not a value").all()
    assert pd.isna(summary["row"]) and pd.isna(summary["value"])
    assert summary["severity"] == "error"
    assert summary["expected"] == (
        "… and 150 more rows of 'placements' with this problem in weekly_cost (only the first 100 are listed): "
        "fix the pattern, then validate again"
    )
    if form == "xlsx":
        assert summary["column_letter"] == "K"
    else:
        assert pd.isna(summary["column_letter"])
    # the summary comes straight after the findings it continues
    at = result.findings.index[(result.findings["code"] == "CELL-WRONG-TYPE") & (result.findings["column"] == "weekly_cost")]
    assert list(at) == list(range(at[0], at[0] + 101))


def test_each_column_is_capped_on_its_own(tmp_path: Path):
    tables = _many_placements(260, {"weekly_cost": 250, "sibling_group_size": 120, "in_area": 50})
    result = validate_path(write_return(tables, tmp_path / "r", "folder"), max_expanded_bytes=LIMIT)
    cost = _of(result.findings, "CELL-WRONG-TYPE", "weekly_cost")
    siblings = _of(result.findings, "CELL-WRONG-TYPE", "sibling_group_size")
    area = _of(result.findings, "CELL-CODE-UNKNOWN", "in_area")
    assert (len(cost), len(siblings), len(area)) == (101, 101, 50)
    assert "… and 150 more rows" in cost.iloc[-1]["expected"]
    assert "… and 20 more rows" in siblings.iloc[-1]["expected"] and "in sibling_group_size" in siblings.iloc[-1]["expected"]
    assert _summaries(area).empty
    assert len(_summaries(result.findings)) == 2


def test_the_cap_keeps_the_first_rows_across_parts_and_can_be_changed():
    findings = Findings(max_per_column=3)
    findings.add("CELL-WRONG-TYPE", "error", "expected a number", table="t", column="c", rows=pd.Series([10, 11, 12, 13]))
    findings.add("CELL-WRONG-TYPE", "error", "expected a number", table="t", column="c", rows=pd.Series([1, 2]))
    other = Findings(max_per_column=3)
    other.add("CELL-WRONG-TYPE", "error", "expected a number", table="t", column="c", rows=pd.Series([5, 6, 7, 8]))
    other.add("CELL-WRONG-TYPE", "error", "expected a number", table="t", column="d", rows=pd.Series([5]))
    findings.extend(other)
    frame = findings.frame()
    c = frame[frame["column"] == "c"]
    assert c["row"].tolist()[:3] == [1, 2, 5]
    assert pd.isna(c["row"].iloc[3]) and len(c) == 4
    assert c["expected"].iloc[3].startswith("… and 7 more rows of 't' with this problem in c (only the first 3 are listed)")
    assert frame[frame["column"] == "d"]["row"].tolist() == [5]
    assert Findings().max_per_column == MAX_FINDINGS_PER_COLUMN == 100


def test_thousands_of_unknown_columns_give_100_warnings_and_a_summary(tmp_path: Path):
    tables = good_tables()
    junk = pd.DataFrame({f"junk{i}": ["x"] * len(tables["placements"]) for i in range(2500)})
    tables["placements"] = pd.concat([tables["placements"], junk], axis=1)
    result = validate_path(write_return(tables, tmp_path / "r", "folder"), max_expanded_bytes=LIMIT)
    assert result.status == "accepted_with_warnings"
    unknown = _of(result.findings, "COLUMN-UNKNOWN", None)
    assert len(unknown) == 101
    assert unknown["value"].iloc[:100].tolist() == [f"junk{i}" for i in range(100)]
    assert unknown["expected"].iloc[0] == "the column 'junk0' is not part of the return and was ignored"
    assert unknown["expected"].iloc[100].startswith("… and 2,400 more columns of 'placements' with this problem (only the first 100")


def _header(status: str) -> ReportHeader:
    return ReportHeader("trafford/2023-09", "0" * 64, status, "E08000009", "Trafford", "2023-09", "2023-10-05 10:00:00", "1.0")


def test_the_reports_say_the_list_was_cut(tmp_path: Path):
    result = validate_path(write_return(_many_placements(260, {"weekly_cost": 250}), tmp_path / "r", "folder"), max_expanded_bytes=LIMIT)
    paths = write_reports(_header(result.status), result.findings, tmp_path / "reports", "cut")
    document = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert document["summary"]["truncated"] is True
    assert document["summary"]["not_listed"] == 150
    page = paths["html"].read_text(encoding="utf-8")
    assert "This list is not complete: 150 more finding(s) are not listed." in page
    assert page.index("This list is not complete") < page.index("<table>")

    whole = validate_path(write_return(_many_placements(10, {"weekly_cost": 3}), tmp_path / "few", "folder"), max_expanded_bytes=LIMIT)
    paths = write_reports(_header(whole.status), whole.findings, tmp_path / "reports", "whole")
    document = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert document["summary"]["truncated"] is False and document["summary"]["not_listed"] == 0
    assert "not complete" not in paths["html"].read_text(encoding="utf-8")


def _bounded(findings: pd.DataFrame) -> None:
    per_problem = findings.groupby(["code", "severity", "table", "column"], dropna=False).size()
    assert per_problem.max() <= MAX_FINDINGS_PER_COLUMN + 1, per_problem[per_problem > MAX_FINDINGS_PER_COLUMN + 1]


def test_a_garbage_table_is_rejected_with_a_short_list(tmp_path: Path):
    result = validate_path(garbage_table_return(tmp_path / "r", 2_000_000, seed=1), max_expanded_bytes=LIMIT)
    assert result.status == "rejected"
    assert len(result.findings) <= 300
    _bounded(result.findings)
    garbage = result.findings[result.findings["table"] == "placements"]
    assert {"TABLE-NO-HEADER", "ROW-WRONG-FIELD-COUNT"} <= set(garbage["code"])
    assert len(_summaries(garbage)) == 1
    assert set(result.findings["table"]) == {"placements"}  # the good tables have nothing to say


def test_garbage_under_a_good_header_and_everywhere_is_bounded(tmp_path: Path):
    headed = validate_path(garbage_table_return(tmp_path / "h", 2_000_000, seed=2, keep_header=True), max_expanded_bytes=LIMIT)
    assert headed.status == "rejected"
    _bounded(headed.findings)
    assert {"ROW-WRONG-FIELD-COUNT", "CELL-WRONG-TYPE", "CELL-CODE-UNKNOWN"} <= set(headed.findings["code"])
    assert len(headed.findings) <= 12 * 5 * (MAX_FINDINGS_PER_COLUMN + 1)

    everything = validate_path(garbage_return(tmp_path / "a", 2_000_000, seed=3), max_expanded_bytes=LIMIT)
    assert everything.status == "rejected"
    _bounded(everything.findings)
    assert len(everything.findings) <= 9 * 2 * (MAX_FINDINGS_PER_COLUMN + 1)
    assert set(everything.findings["table"]) == set(good_tables())  # every table has its say


def test_a_20_mb_garbage_table_validates(tmp_path: Path):
    result = validate_path(garbage_table_return(tmp_path / "r", 20_000_000, seed=4), max_expanded_bytes=64 * 1024 * 1024)
    assert result.status == "rejected"
    assert len(result.findings) <= 300
    _bounded(result.findings)
    assert len(_summaries(result.findings)) == 1
