"""The blank template workbook and the reference page are generated from the contract alone."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import pytest
from python_calamine import CalamineWorkbook

from orchestration.returns import schema
from orchestration.returns.findings import excel_letter
from orchestration.returns.docs import REGENERATE, render_markdown, write_docs
from orchestration.returns.schema import Contract, load_contract
from orchestration.returns.template import GUIDANCE_SHEET, LAST_ROW, LISTS_SHEET, write_template
from orchestration.settings import PROJECT_ROOT
from tests.conftest import EXTRA_COLUMN

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
            dv = validations.get(f"{letter}2:{letter}{LAST_ROW}")
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
            dv = validations.get(f"{letter}2:{letter}{LAST_ROW}")
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
