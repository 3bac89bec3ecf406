"""What an LA is told about its return: every finding, exactly as it sees it.

Each broken return (tests/fixtures/broken.py) breaks one thing in the
hand-worked good return, so every finding is known in full: code, severity,
table, the row the LA sees (header = row 1), column, Excel column letter (XLSX
only), the value found (never for personal data) and what was expected. Each
case runs in every form it makes sense for. The real-world mess the contract
accepts (header case and spacing, Excel date cells, blank trailing rows, a BOM,
"1,234", lower-case codes) must produce no finding at all.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from orchestration.returns.validate import validate_path
from orchestration.returns.writers import write_return
from tests.fixtures.broken import (
    titled_placements,
    CASES,
    CSV_FORMS,
    FORMS,
    TODAY,
    ExcelError,
    Expected,
    case_forms,
    csv_text,
    path_for,
    write_case,
    write_csv_return,
    write_xlsx,
)
from tests.fixtures.returns import CHILD_IDS, HOUSEHOLD_IDS, good_tables

BIG = 100 * 1024 * 1024
PERSONAL = {"child_id", "date_of_birth", "carer_household_id"}


def _findings(result) -> list[dict]:
    """The findings as plain records, NA/NaN as None, rows as int."""
    records = []
    for record in result.findings.to_dict(orient="records"):
        clean = {k: (None if not isinstance(v, str) and pd.isna(v) else v) for k, v in record.items()}
        if clean["row"] is not None:
            clean["row"] = int(clean["row"])
        records.append(clean)
    return records


def _matches(finding: dict, want: Expected, form: str) -> bool:
    letter = want.letter if form == "xlsx" else None
    return (
        finding["code"] == want.code
        and finding["severity"] == want.severity
        and finding["table"] == want.table
        and finding["row"] == want.row
        and finding["column"] == want.column
        and finding["column_letter"] == letter
        and finding["value"] == want.value
        and all(phrase in (finding["expected"] or "") for phrase in want.says)
    )


def _show(findings: list[dict]) -> str:
    return "\n".join(str(f) for f in findings) or "(no findings)"


def assert_exact_findings(result, wanted: list[Expected], form: str) -> None:
    """Every wanted finding is there, exactly, and nothing else."""
    found = _findings(result)
    unmatched = list(found)
    for want in wanted:
        hit = next((f for f in unmatched if _matches(f, want, form)), None)
        assert hit is not None, f"missing finding {want} ({form}); found:\n{_show(found)}"
        unmatched.remove(hit)
    assert not unmatched, f"unexpected findings ({form}):\n{_show(unmatched)}"


def _case_params():
    return [pytest.param(name, form, id=f"{name}-{form}") for name, form in case_forms()]


@pytest.mark.parametrize(("name", "form"), _case_params())
def test_broken_return_reports_exactly_its_findings(tmp_path, name, form):
    case = CASES[name]
    path = write_case(name, tmp_path, form)
    result = validate_path(path, max_expanded_bytes=case.max_expanded_bytes, today=TODAY)

    assert result.status == "rejected"
    assert_exact_findings(result, case.expect(form), form)


@pytest.mark.parametrize(("name", "form"), case_forms(), ids=[f"{n}-{f}" for n, f in case_forms()])
def test_no_finding_shows_a_personal_value(tmp_path, name, form):
    case = CASES[name]
    result = validate_path(write_case(name, tmp_path, form), max_expanded_bytes=case.max_expanded_bytes, today=TODAY)
    findings = result.findings
    personal = findings[findings["column"].isin(PERSONAL)]
    assert personal["value"].isna().all(), personal.to_string()
    text = findings.astype(str).to_string()
    for raw in CHILD_IDS + HOUSEHOLD_IDS:
        assert raw not in text


@pytest.mark.parametrize("form", FORMS)
def test_missing_required_column_is_reported_on_the_header_row(tmp_path, form):
    """The COLUMN-MISSING finding itself, on the header row."""
    result = validate_path(write_case("missing_column", tmp_path, form), max_expanded_bytes=BIG, today=TODAY)
    wanted = CASES["missing_column"].expect(form)[0]
    assert any(_matches(f, wanted, form) for f in _findings(result)), _show(_findings(result))
    assert result.status == "rejected"


@pytest.mark.parametrize("form", FORMS)
def test_future_period_is_judged_against_today(tmp_path, form):
    """The same return is fine once its month has come and gone."""
    path = write_case("period_in_future", tmp_path, form)
    assert validate_path(path, max_expanded_bytes=BIG, today=TODAY).status == "rejected"
    later = validate_path(path, max_expanded_bytes=BIG, today=dt.date(2099, 10, 1))
    assert later.status == "accepted", _show(_findings(later))


@pytest.mark.parametrize("form", FORMS)
def test_size_limit_is_configurable(tmp_path, form):
    """The same good return passes under a generous limit and is refused under a tight one."""
    path = write_return(good_tables(), path_for(tmp_path, "good", form), form)
    assert validate_path(path, max_expanded_bytes=BIG, today=TODAY).status == "accepted"
    tight = validate_path(path, max_expanded_bytes=500, today=TODAY)
    assert tight.status == "rejected"
    assert tight.findings["code"].tolist() == ["FILE-TOO-LARGE"]
    assert "more than the limit of 0.0 MB" in tight.findings["expected"].iloc[0]


@pytest.mark.parametrize("form", [f for f in FORMS if f in CASES["several_problems"].forms])
def test_several_problems_are_all_listed(tmp_path, form):
    """Not only the first: one finding per problem, in six different tables and rules."""
    result = validate_path(write_case("several_problems", tmp_path, form), max_expanded_bytes=BIG, today=TODAY)
    assert result.errors == 6
    assert set(result.findings["table"]) == {"submission", "recruitment", "households", "placements", "finance"}


# --- the real-world mess that must be accepted ----------------------------------------


def _renamed_headers(tables):
    tables["placements"] = tables["placements"].rename(
        columns={"child_id": "Child ID ", "date_of_birth": " Date of Birth", "placement_start": "PLACEMENT_START", "weekly_cost": "Weekly  Cost"}
    )
    tables["submission"] = tables["submission"].rename(columns={"la_code": "LA Code", "submitted_at": "Submitted_At"})
    tables["households"] = tables["households"].rename(columns={"approved_places": "Approved places"})
    return tables


def _excel_dates(tables):
    submission = tables["submission"].astype(object)
    submission.at[0, "period"] = pd.Timestamp("2023-09-01")  # what Excel makes of "2023-09" typed into a cell
    submission["submitted_at"] = pd.to_datetime(submission["submitted_at"])
    tables["submission"] = submission
    placements = tables["placements"].copy()
    for column in ("date_of_birth", "placement_start", "placement_end"):
        placements[column] = pd.to_datetime(placements[column])
    tables["placements"] = placements
    return tables


def _thousands(tables):
    households = tables["households"].astype(object)
    households.at[0, "approved_places"] = "1,234"
    households.at[0, "places_vacant"] = "1,194"  # 2 + 1,194 + 38 = 1,234
    tables["households"] = households
    recruitment = tables["recruitment"].astype(object)
    recruitment.at[0, "enquiries"] = "1,020"
    tables["recruitment"] = recruitment
    finance = tables["finance"].astype(object)
    finance.at[0, "actual"] = "120,000.00"
    finance.at[1, "budget"] = "£210,000"
    tables["finance"] = finance
    return tables


def _lower_codes(tables):
    placements = tables["placements"].astype(object)
    placements["placement_type"] = placements["placement_type"].str.lower()
    placements["placement_provider"] = placements["placement_provider"].str.lower()
    placements["uasc"] = placements["uasc"].str.lower()
    placements["in_area"] = placements["in_area"].str.lower()
    tables["placements"] = placements
    for name in ("recruitment", "households"):
        frame = tables[name].copy()
        frame["carer_type"] = frame["carer_type"].str.title()  # Mainstream, Connected
        tables[name] = frame
    tables["deregistrations"] = tables["deregistrations"].assign(reason_code=lambda f: f["reason_code"].str.lower())
    tables["withdrawals"] = tables["withdrawals"].assign(reason_code=lambda f: f["reason_code"].str.lower())
    tables["placement_requests"] = tables["placement_requests"].assign(need_category=lambda f: f["need_category"].str.title())
    tables["finance"] = tables["finance"].assign(cost_line=lambda f: f["cost_line"].str.upper())
    return tables


def write_messy(tables, path: Path, form: str, *, bom: bool = False, blank_rows: int = 0) -> Path:
    if form == "xlsx":
        return write_xlsx(tables, path, blank_rows=blank_rows)
    files = {}
    for name, text in csv_text(tables).items():
        width = len(tables[name].columns)
        text += ("," * (width - 1) + "\n") * blank_rows + ("\n" if blank_rows else "")
        files[name] = (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")
    return write_csv_return(files, path, form)


MESS = {
    # name: (change to the tables, forms, BOM, blank trailing rows)
    "header_case_and_spacing": (_renamed_headers, FORMS, False, 0),
    "excel_date_cells": (_excel_dates, ("xlsx",), False, 0),
    "blank_trailing_rows": (None, FORMS, False, 3),
    "utf8_bom": (None, CSV_FORMS, True, 0),
    "thousands_separators": (_thousands, FORMS, False, 0),
    "lower_case_codes": (_lower_codes, FORMS, False, 0),
}


def _mess_params():
    return [pytest.param(name, form, id=f"{name}-{form}") for name, (_, forms, _, _) in MESS.items() for form in forms]


def _check_values(result) -> None:
    """The accepted return reads as the good one it stands for."""
    tables = result.tables
    assert result.la_code == "E08000009" and result.period == dt.date(2023, 9, 1)
    assert result.submitted_at.date() in (dt.date(2023, 10, 5),)
    placements = tables["placements"]
    assert placements["child_id"].tolist() == CHILD_IDS
    assert placements["placement_type"].tolist() == ["U4", "U4", "K2", "U1"]
    assert placements["placement_provider"].tolist() == ["PR1", "PR4", "PR4", "PR1"]
    assert placements["uasc"].tolist() == ["N", "N", "Y", "N"]
    assert placements["date_of_birth"].dt.strftime("%Y-%m-%d").tolist() == ["2010-05-17", "2012-11-02", "2008-01-30", "2015-07-07"]
    assert placements["placement_start"].dt.strftime("%Y-%m-%d").tolist() == ["2021-03-01", "2023-07-23", "2023-09-10", "2022-01-15"]
    assert placements["weekly_cost"].tolist() == [343.0, 877.0, 4500.0, 250.0]
    assert tables["recruitment"]["carer_type"].tolist() == ["mainstream", "connected"]
    assert tables["deregistrations"]["reason_code"].tolist() == ["DER3"]
    assert tables["withdrawals"]["reason_code"].tolist() == ["AW3", "AW0"]
    assert tables["placement_requests"]["need_category"].tolist() == ["teenager", "general"]
    assert tables["finance"]["cost_line"].tolist() == ["fostering_allowances", "ifa_fees", "fostering_staff", "fostering_other"]
    assert {name: len(frame) for name, frame in tables.items()} == {
        "submission": 1, "recruitment": 2, "households": 2, "deregistrations": 1, "withdrawals": 2,
        "placements": 4, "placement_requests": 2, "finance": 4,
    }


@pytest.mark.parametrize(("name", "form"), _mess_params())
def test_real_world_mess_is_accepted(tmp_path, name, form):
    change, _, bom, blank_rows = MESS[name]
    tables = good_tables()
    if change:
        tables = change(tables)
    path = write_messy(tables, path_for(tmp_path, name, form), form, bom=bom, blank_rows=blank_rows)

    result = validate_path(path, max_expanded_bytes=BIG, today=TODAY)

    assert result.status == "accepted", _show(_findings(result))
    assert result.findings.empty
    _check_values(result)


@pytest.mark.parametrize("form", FORMS)
def test_thousands_separators_are_read_as_numbers(tmp_path, form):
    path = write_messy(_thousands(good_tables()), path_for(tmp_path, "thousands", form), form)
    result = validate_path(path, max_expanded_bytes=BIG, today=TODAY)
    assert result.status == "accepted", _show(_findings(result))
    households = result.tables["households"]
    assert households.loc[0, ["approved_places", "places_vacant"]].tolist() == [1234, 1194]
    assert result.tables["recruitment"].loc[0, "enquiries"] == 1020
    assert result.tables["finance"].loc[0, "actual"] == 120000.0
    assert result.tables["finance"].loc[1, "budget"] == 210000.0


@pytest.mark.parametrize("form", FORMS)
def test_all_the_mess_at_once_is_accepted(tmp_path, form):
    tables = good_tables()
    if form == "xlsx":
        tables = _excel_dates(tables)
    tables = _renamed_headers(_lower_codes(_thousands(tables)))
    path = write_messy(tables, path_for(tmp_path, "mess", form), form, bom=form != "xlsx", blank_rows=2)

    result = validate_path(path, max_expanded_bytes=BIG, today=TODAY)

    assert result.status == "accepted", _show(_findings(result))
    _check_values(result)


# --- edge cases found while testing -------------------------------------------------


@pytest.mark.parametrize("form", FORMS)
def test_placements_with_no_rows_is_accepted(tmp_path, form):
    """The contract sets no minimum for placements: a header and no rows is a valid (if odd) return."""
    tables = good_tables()
    tables["placements"] = tables["placements"].iloc[0:0]
    result = validate_path(write_return(tables, path_for(tmp_path, "no-placements", form), form), max_expanded_bytes=BIG, today=TODAY)
    assert result.status == "accepted", _show(_findings(result))
    assert result.tables["placements"].empty


def test_placements_with_a_title_row_gets_findings_not_a_crash(tmp_path):
    """A title typed above the header makes the title the header: say once that the header row is not there."""
    tables = titled_placements()
    result = validate_path(write_xlsx(tables, tmp_path / "titled.xlsx"), max_expanded_bytes=BIG, today=TODAY)
    assert result.status == "rejected"
    no_header = result.findings[result.findings["code"] == "TABLE-NO-HEADER"]
    assert no_header[["table", "row"]].values.tolist() == [["placements", 1]]
    assert "must be the header row" in no_header["expected"].iloc[0]


@pytest.mark.parametrize("form", FORMS)
def test_placements_without_a_header_row_shows_no_personal_value(tmp_path, form):
    """The first data row read as the header must not put a child's identifier into a finding."""
    tables = good_tables()
    placements = tables["placements"]
    tables["placements"] = placements.iloc[1:].set_axis(list(placements.iloc[0].fillna("")), axis=1)
    path = path_for(tmp_path, "headerless", form)
    path = write_xlsx(tables, path) if form == "xlsx" else write_return(tables, path, form)
    result = validate_path(path, max_expanded_bytes=BIG, today=TODAY)
    assert result.status == "rejected"
    text = result.findings.astype(str).to_string()
    for raw in CHILD_IDS + HOUSEHOLD_IDS + ["2010-05-17"]:
        assert raw not in text


@pytest.mark.parametrize("form", FORMS)
def test_excel_error_in_a_personal_column_shows_no_value(tmp_path, form):
    tables = good_tables()
    placements = tables["placements"].astype(object)
    placements.at[0, "date_of_birth"] = ExcelError("=1/0", "#DIV/0!", "#REF!") if form == "xlsx" else "#REF!"
    tables["placements"] = placements
    path = path_for(tmp_path, "personal-error", form)
    path = write_xlsx(tables, path) if form == "xlsx" else write_return(tables, path, form)
    result = validate_path(path, max_expanded_bytes=BIG, today=TODAY)
    assert_exact_findings(
        result,
        [Expected("CELL-EXCEL-ERROR", "error", "placements", 2, "date_of_birth", "B", None, ("Excel error",))],
        form,
    )


@pytest.mark.parametrize("form", ["folder", "xlsx"])
def test_a_batch_gives_each_return_exactly_what_it_gets_alone(tmp_path, form):
    """validate_many parses alike returns' cells together: every return's findings (in order) and tables
    must be exactly those it gets validated on its own, whatever else is in the batch."""
    from orchestration.returns.readers import read_return
    from orchestration.returns.validate import validate_many

    paths = [write_return(good_tables(), path_for(tmp_path / "good-1", "good", form), form)]
    for name, case_form in case_forms():
        if case_form == form and CASES[name].max_expanded_bytes >= BIG:
            paths.append(write_case(name, tmp_path / name, form))
    paths.append(write_return(good_tables(), path_for(tmp_path / "good-2", "good", form), form))
    alone = [validate_path(p, max_expanded_bytes=BIG, today=TODAY) for p in paths]
    together = validate_many([(p, read_return(p, BIG)) for p in paths], today=TODAY)

    assert len(paths) > 10 and {r.status for r in alone} == {"accepted", "rejected"}
    for one, batched in zip(alone, together):
        pd.testing.assert_frame_equal(one.findings, batched.findings)
        assert one.tables.keys() == batched.tables.keys()
        for name in one.tables:
            a, b = one.tables[name], batched.tables[name]
            pd.testing.assert_frame_equal(a, b, check_dtype=False)
            # A column typed differently alone and in a batch may only be one this return left blank
            # (its dtype is then the batch's: the values, all null, are the same).
            for column in a.columns[a.dtypes != b.dtypes]:
                assert a[column].isna().all() and b[column].isna().all(), (name, column, a.dtypes[column], b.dtypes[column])
        assert (one.la_code, one.period, one.status) == (batched.la_code, batched.period, batched.status)
