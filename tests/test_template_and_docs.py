"""The blank template workbook and the reference page are generated from the contract alone."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree
from xml.sax.saxutils import escape as xml_escape

import pandas as pd
import pytest
from python_calamine import CalamineWorkbook

from orchestration.returns import schema
from orchestration.returns.findings import excel_letter
from orchestration.returns.docs import REGENERATE, render_markdown, write_docs
from orchestration.returns.schema import Contract, load_contract
from orchestration.returns.template import (
    GUIDANCE_SHEET,
    LAST_ROW,
    LISTS_SHEET,
    VERSION_TABLE,
    last_row,
    write_template,
)
from orchestration.returns.validate import validate_path
from orchestration.returns.writers import write_return
from orchestration.settings import PROJECT_ROOT, load_settings
from tests.conftest import EXTRA_COLUMN
from tests.fixtures.returns import good_tables
from tests.test_cli import fostering

NS = {
    "main": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    "rel": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "pkg": "http://schemas.openxmlformats.org/package/2006/relationships",
}
# The expected data-validation type per contract column type.
VALIDATION_TYPES = {
    "code": "list",
    "int": "whole",
    "money": "decimal",
    "date": "date",
    "datetime": "date",
    "period": "custom",
    "text": None,  # an input message only
}


def _rows(path: Path, sheet: str) -> list[list]:
    return CalamineWorkbook.from_path(path).get_sheet_by_name(sheet).to_python()


def _sheets_xml(path: Path) -> dict[str, tuple[ElementTree.Element, dict]]:
    """Sheet name -> (its worksheet XML, its <sheet> attributes in workbook.xml)."""
    with zipfile.ZipFile(path) as archive:
        workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
        targets = {r.get("Id"): r.get("Target") for r in rels.findall("pkg:Relationship", NS)}
        out = {}
        for sheet in workbook.find("main:sheets", NS).findall("main:sheet", NS):
            target = targets[sheet.get(f"{{{NS['rel']}}}id")].lstrip("/")
            target = target if target.startswith("xl/") else f"xl/{target}"
            out[sheet.get("name")] = (ElementTree.fromstring(archive.read(target)), dict(sheet.attrib))
    return out


def _validations(sheet_xml: ElementTree.Element) -> dict[str, ElementTree.Element]:
    """sqref -> <dataValidation> element."""
    holder = sheet_xml.find("main:dataValidations", NS)
    if holder is None:
        return {}
    return {dv.get("sqref"): dv for dv in holder.findall("main:dataValidation", NS)}


def _column_range(table, letter: str) -> str:
    """The sqref of a column's checks: row 2 down to the last row the contract allows the table."""
    last = last_row(table)
    return f"{letter}2" if last == 2 else f"{letter}2:{letter}{last}"


def _list_codes(path: Path, formula: str) -> list[str]:
    """The codes a drop-down formula such as Lists!$C$2:$C$29 points at."""
    match = re.fullmatch(rf"{LISTS_SHEET}!\$([A-Z]+)\$(\d+):\$([A-Z]+)\$(\d+)", formula)
    assert match, f"drop-down does not reference a range on the {LISTS_SHEET} sheet: {formula!r}"
    first_col, first_row, last_col, last_row = match.groups()
    assert first_col == last_col
    rows = _rows(path, LISTS_SHEET)
    col = next(i for i in range(len(rows[0])) if excel_letter(i) == first_col)
    return [str(rows[r][col]) for r in range(int(first_row) - 1, int(last_row))]


def _guidance_cells(path: Path) -> list[str]:
    return [str(cell) for row in _rows(path, GUIDANCE_SHEET) for cell in row if cell != ""]


@pytest.fixture(scope="module")
def contract() -> Contract:
    return load_contract("1.0")


@pytest.fixture(scope="module")
def template(contract, tmp_path_factory) -> Path:
    return write_template(tmp_path_factory.mktemp("template") / "template.xlsx", contract)


# --- template --------------------------------------------------------------------------------------


def test_every_table_is_a_sheet_with_the_contract_headers_in_order(contract, template):
    workbook = CalamineWorkbook.from_path(template)
    assert workbook.sheet_names[0] == GUIDANCE_SHEET
    assert set(workbook.sheet_names) == {GUIDANCE_SHEET, LISTS_SHEET, *contract.tables}
    for table in contract.tables.values():
        rows = workbook.get_sheet_by_name(table.name).to_python()
        assert rows[0] == table.column_names, table.name


def test_submission_is_prefilled_with_the_contract_version(contract, template):
    rows = _rows(template, "submission")
    assert rows[1][contract.tables["submission"].column_names.index("return_version")] == contract.version


def test_lists_sheet_is_hidden_and_guidance_is_visible(template):
    sheets = _sheets_xml(template)
    assert sheets[LISTS_SHEET][1].get("state") == "hidden"
    assert sheets[GUIDANCE_SHEET][1].get("state") in (None, "visible")


def test_guidance_mentions_every_table_column_code_and_rule(contract, template):
    cells = _guidance_cells(template)
    text = "\n".join(cells)
    assert contract.title in text and contract.version in text
    for table in contract.tables.values():
        assert any(table.name in cell for cell in cells), table.name
        for column in table.columns:
            assert column.name in cells, f"{table.name}.{column.name}"
    for code_list in contract.code_lists.values():
        for code, label in code_list.codes.items():
            assert code in cells, f"{code_list.name}: {code}"
            assert label in cells, f"{code_list.name}: {label}"
    for rule in contract.rules:
        assert rule["code"] in cells
        assert rule["message"][1:] in text, rule["code"]


def test_every_code_list_column_has_a_dropdown_on_the_lists_sheet(contract, template):
    sheets = _sheets_xml(template)
    for table in contract.tables.values():
        validations = _validations(sheets[table.name][0])
        for index, column in enumerate(table.columns):
            if not column.code_list:
                continue
            letter = excel_letter(index)
            dv = validations.get(_column_range(table, letter))
            assert dv is not None, f"no validation on {table.name}.{column.name}"
            assert dv.get("type") == "list"
            formula = dv.find("main:formula1", NS).text
            assert formula.startswith(f"{LISTS_SHEET}!")
            assert _list_codes(template, formula) == list(contract.code_lists[column.code_list].codes)


def test_every_column_has_a_validation_of_its_type_with_messages(contract, template):
    sheets = _sheets_xml(template)
    for table in contract.tables.values():
        validations = _validations(sheets[table.name][0])
        for index, column in enumerate(table.columns):
            letter = excel_letter(index)
            dv = validations.get(_column_range(table, letter))
            assert dv is not None, f"no validation on {table.name}.{column.name}"
            assert dv.get("type") == VALIDATION_TYPES[column.type], f"{table.name}.{column.name}"
            assert dv.get("prompt"), f"no input message on {table.name}.{column.name}"
            if VALIDATION_TYPES[column.type]:
                assert dv.get("error"), f"no error message on {table.name}.{column.name}"
            if column.type == "int":
                assert dv.get("operator") == "greaterThanOrEqual"
                assert dv.find("main:formula1", NS).text == str(column.min)
            if column.type == "money":
                low = float(dv.find("main:formula1", NS).text)
                assert (low < 0) if column.allow_negative else (low == 0), f"{table.name}.{column.name}"


def test_headers_are_frozen_and_commented(contract, template):
    sheets = _sheets_xml(template)
    with zipfile.ZipFile(template) as archive:
        comments = "".join(
            archive.read(name).decode("utf-8") for name in archive.namelist() if name.startswith("xl/comments")
        )
    for table in contract.tables.values():
        pane = sheets[table.name][0].find("main:sheetViews/main:sheetView/main:pane", NS)
        assert pane is not None and pane.get("state") == "frozen" and pane.get("ySplit") == "1"
        for column in table.columns:
            assert column.description[1:40] in comments, f"no header comment for {table.name}.{column.name}"


def test_template_is_byte_for_byte_reproducible(contract, tmp_path):
    first = write_template(tmp_path / "a.xlsx", contract)
    second = write_template(tmp_path / "b.xlsx", contract)
    assert first.read_bytes() == second.read_bytes()


def test_template_defaults_to_the_newest_contract(tmp_path):
    path = write_template(tmp_path / "newest.xlsx")
    newest = load_contract()
    row = _rows(path, "submission")[1]
    assert row[newest.tables["submission"].column_names.index("return_version")] == newest.version


# --- Excel Tables, drop-downs with meanings, checks to the contract's row limit ---------------------


def _member(path: Path, sheet: str) -> str:
    """The archive member holding one sheet's XML."""
    with zipfile.ZipFile(path) as archive:
        workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    targets = {r.get("Id"): r.get("Target") for r in rels.findall("pkg:Relationship", NS)}
    node = next(s for s in workbook.find("main:sheets", NS).findall("main:sheet", NS) if s.get("name") == sheet)
    member = targets[node.get(f"{{{NS['rel']}}}id")].lstrip("/")
    return member if member.startswith("xl/") else f"xl/{member}"


def _linked(path: Path, sheet: str, kind: str) -> list[str]:
    """The parts of one kind ('table', 'comments') a sheet links to, as archive member names."""
    folder, name = _member(path, sheet).rsplit("/", 1)
    with zipfile.ZipFile(path) as archive:
        if f"{folder}/_rels/{name}.rels" not in archive.namelist():
            return []
        rels = ElementTree.fromstring(archive.read(f"{folder}/_rels/{name}.rels"))
    return [
        "xl/" + r.get("Target").replace("../", "")
        for r in rels.findall("pkg:Relationship", NS)
        if r.get("Type").endswith(f"/{kind}")
    ]


def _excel_tables(path: Path, sheet: str) -> list[ElementTree.Element]:
    with zipfile.ZipFile(path) as archive:
        return [ElementTree.fromstring(archive.read(member)) for member in _linked(path, sheet, "table")]


def _notes(path: Path, sheet: str) -> dict[str, str]:
    """Cell reference -> the text of its note (comment), on one sheet."""
    out = {}
    with zipfile.ZipFile(path) as archive:
        for member in _linked(path, sheet, "comments"):
            for comment in ElementTree.fromstring(archive.read(member)).iter(f"{{{NS['main']}}}comment"):
                out[comment.get("ref")] = "".join(t.text or "" for t in comment.iter(f"{{{NS['main']}}}t"))
    return out


def _coded_columns(contract: Contract):
    for table in contract.tables.values():
        for index, column in enumerate(table.columns):
            if column.type == "code":
                yield table, index, column


def _fill(template: Path, contract: Contract, tables: dict[str, pd.DataFrame], out: Path) -> Path:
    """`template` with `tables` typed into its sheets from row 2, stored as Excel stores what is typed
    (numbers as numbers, dates as date serials in the column's date format, the rest as text), and each
    sheet's Excel Table grown to take the rows in, as Excel grows it. Everything else is left as written."""
    with zipfile.ZipFile(template) as archive:
        parts = {info.filename: archive.read(info) for info in archive.infolist()}
    for name, frame in tables.items():
        table = contract.tables[name]
        member = _member(template, name)
        xml = parts[member].decode("utf-8")
        styles = {int(m.group(1)): m.group(2) for m in re.finditer(r'<col min="(\d+)" max="\1"[^>]*? style="(\d+)"', xml)}
        rows = []
        for r, record in enumerate(frame[table.column_names].itertuples(index=False), start=2):
            cells = []
            for index, (column, value) in enumerate(zip(table.columns, record)):
                if value is None or (not isinstance(value, str) and pd.isna(value)):
                    continue
                ref = f"{excel_letter(index)}{r}"
                if column.type in ("date", "datetime"):
                    serial = (pd.Timestamp(value) - pd.Timestamp("1899-12-30")) / pd.Timedelta(days=1)
                    cells.append(f'<c r="{ref}" s="{styles[index + 1]}"><v>{serial!r}</v></c>')
                elif column.type in ("int", "money"):
                    cells.append(f'<c r="{ref}"><v>{value!r}</v></c>')
                else:
                    cells.append(f'<c r="{ref}" t="inlineStr"><is><t>{xml_escape(str(value))}</t></is></c>')
            rows.append(f'<row r="{r}">{"".join(cells)}</row>')
        header = re.search(r'<row r="1".*?</row>', xml, re.S).group()
        xml = re.sub(r"<sheetData>.*</sheetData>", lambda _: f"<sheetData>{header}{''.join(rows)}</sheetData>", xml, flags=re.S)
        corner = f"{excel_letter(len(table.columns) - 1)}{max(2, len(frame) + 1)}"
        parts[member] = re.sub(r'<dimension ref="[^"]*"/>', f'<dimension ref="A1:{corner}"/>', xml).encode("utf-8")
        (table_part,) = _linked(template, name, "table")
        parts[table_part] = re.sub(rb'ref="A1:[A-Z]+\d+"', f'ref="A1:{corner}"'.encode(), parts[table_part])
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for member, data in parts.items():
            archive.writestr(member, data)
    return out


def _validate(path: Path):
    return validate_path(path, max_expanded_bytes=load_settings().max_expanded_bytes)


def test_checks_of_every_column_reach_the_contract_row_limit(contract, template):
    sheets = _sheets_xml(template)
    for table in contract.tables.values():
        expected_last = LAST_ROW if table.rows_max is None else 1 + table.rows_max
        assert last_row(table) == expected_last, table.name
        validations = _validations(sheets[table.name][0])
        # one check per column, each a single range down to the limit: never one per cell
        assert len(validations) == len(table.columns), table.name
        for index, column in enumerate(table.columns):
            dv = validations.get(_column_range(table, excel_letter(index)))
            assert dv is not None, f"{table.name}.{column.name} is not checked down to row {expected_last}"
            if column.type == "code":
                assert dv.get("type") == "list", f"{table.name}.{column.name}"
    # placements has no maximum: its drop-downs reach the sheet's last row, far beyond thousands of rows
    assert contract.tables["placements"].rows_max is None and LAST_ROW == 1_048_576
    assert template.stat().st_size < 100_000, "the template should stay small: checks are ranges, not cells"


def test_every_data_sheet_is_one_excel_table_with_filters(contract, template):
    for table in contract.tables.values():
        found = _excel_tables(template, table.name)
        assert len(found) == 1, f"{table.name}: {len(found)} Excel Tables"
        (xml,) = found
        last_letter = excel_letter(len(table.columns) - 1)
        match = re.fullmatch(rf"A1:{last_letter}(\d+)", xml.get("ref"))
        assert match and int(match.group(1)) >= 2, f"{table.name}: Table range {xml.get('ref')}"  # a header and a data row
        assert int(match.group(1)) <= last_row(table), table.name
        assert xml.get("name") == xml.get("displayName") == table.name
        assert xml.find("main:autoFilter", NS).get("ref") == xml.get("ref"), table.name
        names = [c.get("name") for c in xml.find("main:tableColumns", NS).findall("main:tableColumn", NS)]
        assert names == table.column_names, table.name
        assert xml.find("main:tableStyleInfo", NS).get("name"), table.name
        assert xml.get("totalsRowCount") in (None, "0") and xml.get("headerRowCount") in (None, "1")
    for sheet in (GUIDANCE_SHEET, LISTS_SHEET):
        assert _excel_tables(template, sheet) == [], sheet


def test_every_code_is_shown_with_its_meaning_beside_its_dropdown(contract, template):
    sheets = _sheets_xml(template)
    for table, index, column in _coded_columns(contract):
        meanings = [f"{code} = {label}" for code, label in contract.code_lists[column.code_list].codes.items()]
        where = f"{table.name}.{column.name}"
        # the note on the column name lists every code with its meaning
        note = _notes(template, table.name)[f"{excel_letter(index)}1"].split("\n")
        assert note[note.index("What each code means:") + 1 :] == meanings, where
        # picking a cell shows, beside the drop-down, the codes with their meanings (as many as Excel's
        # 255 characters hold), and where to find the rest
        dv = _validations(sheets[table.name][0])[_column_range(table, excel_letter(index))]
        prompt = dv.get("prompt")
        assert len(prompt) <= 255, where
        lines = prompt.split("\n")
        assert lines[0].endswith("What each code means:"), where
        listed = [line for line in lines[1:] if not line.startswith("…")]
        assert listed and listed == meanings[: len(listed)], where
        if len(listed) < len(meanings):
            assert lines[-1].startswith(f"… {len(meanings) - len(listed)} more") and column.name in lines[-1]
            assert GUIDANCE_SHEET in lines[-1], where
        # the drop-down itself stores the bare code, which the validator reads
        assert _list_codes(template, dv.find("main:formula1", NS).text) == list(contract.code_lists[column.code_list].codes)


def test_what_the_dropdowns_store_is_accepted_by_the_validator(contract, template, tmp_path):
    good, sheets = good_tables(), _sheets_xml(template)
    offered: dict[str, dict[str, list[str]]] = {}  # table -> coded column -> what its drop-down offers
    for table, index, column in _coded_columns(contract):
        dv = _validations(sheets[table.name][0])[_column_range(table, excel_letter(index))]
        offered.setdefault(table.name, {})[column.name] = _list_codes(template, dv.find("main:formula1", NS).text)
    tables = {}
    for name, columns in offered.items():
        rows = max(len(codes) for codes in columns.values())
        # a valid row of the table repeated, each coded column running through every code it offers
        frame = pd.concat([good[name].iloc[[0]]] * rows, ignore_index=True)
        for column, codes in columns.items():
            frame[column] = [codes[i % len(codes)] for i in range(rows)]
        tables[name] = frame
    result = _validate(_fill(template, contract, tables, tmp_path / "every-code.xlsx"))
    unknown = result.findings[result.findings["code"] == "CELL-CODE-UNKNOWN"] if len(result.findings) else []
    assert len(unknown) == 0, unknown
    for name, frame in tables.items():
        for column in contract.tables[name].columns:
            if column.type == "code":
                assert result.tables[name][column.name].tolist() == frame[column.name].tolist(), f"{name}.{column.name}"


def test_a_filled_in_template_is_read_as_the_same_return(contract, template, tmp_path):
    filled = _fill(template, contract, good_tables(), tmp_path / "filled.xlsx")
    plain = write_return(good_tables(), tmp_path / "plain.xlsx", "xlsx")
    ours, theirs = _validate(filled), _validate(plain)
    assert ours.status == theirs.status == "accepted", ours.findings
    for name in contract.tables:
        pd.testing.assert_frame_equal(ours.tables[name], theirs.tables[name], check_dtype=False, obj=name)
    result = fostering("validate", filled)
    assert result.returncode == 0 and "accepted" in result.stdout, result.stdout + result.stderr


def test_a_blank_template_reads_as_tables_with_no_rows(contract, template):
    result = _validate(template)
    assert not any(code.startswith(("TABLE-UNKNOWN", "TABLE-MISSING", "TABLE-NO-HEADER", "COLUMN-"))
                   for code in result.findings["code"]), result.findings
    for name in contract.tables:
        expected = 1 if name == VERSION_TABLE else 0  # only the prefilled return_version row
        assert len(result.tables[name]) == expected, name


# --- a new contract version needs no code change ---------------------------------------------------


def test_new_version_adds_the_column_to_the_template(contracts_with_v11, tmp_path):
    assert schema.known_versions() == ["1.0", "1.1"]
    v10, v11 = load_contract("1.0"), load_contract("1.1")
    path = write_template(tmp_path / "v11.xlsx", v11)

    header = _rows(path, "placements")[0]
    assert header == v10.tables["placements"].column_names + [EXTRA_COLUMN["name"]]
    assert _rows(path, "submission")[1][2] == "1.1"
    assert EXTRA_COLUMN["name"] in _guidance_cells(path)

    letter = excel_letter(len(header) - 1)
    dv = _validations(_sheets_xml(path)["placements"][0])[f"{letter}2:{letter}{LAST_ROW}"]
    assert dv.get("type") == "list"
    assert _list_codes(path, dv.find("main:formula1", NS).text) == list(v11.code_lists["yes_no"].codes)

    old = write_template(tmp_path / "v10.xlsx", v10)
    assert EXTRA_COLUMN["name"] not in _rows(old, "placements")[0]


def test_new_version_adds_the_row_to_the_docs(contracts_with_v11, tmp_path):
    row = f"| `{EXTRA_COLUMN['name']}` | code | no | {EXTRA_COLUMN['description']} |"
    assert row in render_markdown(load_contract("1.1"))
    assert f"`{EXTRA_COLUMN['name']}`" not in render_markdown(load_contract("1.0"))
    assert "version 1.1" in render_markdown()  # the newest by default

    written = write_docs(tmp_path / "docs")
    assert [p.name for p in written] == ["return-spec-v1.0.md", "return-spec-v1.1.md"]
    assert row in written[1].read_text(encoding="utf-8")
    assert row not in written[0].read_text(encoding="utf-8")


# --- docs ------------------------------------------------------------------------------------------


def test_committed_docs_match_the_contract():
    committed = PROJECT_ROOT / "docs" / "return-spec-v1.0.md"
    assert committed.exists(), f"docs/return-spec-v1.0.md is missing: run `{REGENERATE}`"
    assert committed.read_text(encoding="utf-8") == render_markdown(load_contract("1.0")), (
        f"docs/return-spec-v1.0.md is out of date with the contract YAML: run `{REGENERATE}`"
    )


def test_docs_cover_the_whole_contract(contract):
    page = render_markdown(contract)
    first_line = page.splitlines()[0]
    assert "generated" in first_line.lower() and "by hand" in first_line and REGENERATE in first_line
    assert f"# {contract.title} — version {contract.version}" in page
    for table in contract.tables.values():
        assert f"### `{table.name}`" in page
        for column in table.columns:
            assert f"| `{column.name}` |" in page, f"{table.name}.{column.name}"
    for code_list in contract.code_lists.values():
        assert f"### Code list `{code_list.name}`" in page
        for code in code_list.codes:
            assert f"| `{code}` |" in page
    for rule in contract.rules:
        assert f"| `{rule['code']}` | {rule['severity']} | `{rule['table']}` |" in page
    personal = page.split("## Personal data", 1)[1]
    for table in contract.tables.values():
        for column in table.columns:
            if column.pseudonymise or column.degrade:
                assert f"| `{table.name}` | `{column.name}` |" in personal
