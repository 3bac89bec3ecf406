"""The blank return workbook an LA fills in, generated from the contract alone.

Every worksheet, header, drop-down, check and line of guidance comes from the
contract YAML, so a new 1.x version of the return gets its template by running
this again. The two extra sheets, ``Guidance`` (first) and ``Lists`` (hidden,
the code lists the drop-downs point at), are ignored by the reader.

Each table's sheet holds one Excel Table (ListObject, with filter buttons)
named after the contract table, whose header row is exactly the contract's
columns and which starts with one empty data row (Excel refuses a Table with
none; the reader drops blank rows). Its drop-downs and checks cover every row
the contract allows: the header plus the table's maximum rows, or down to the
sheet's last row when the contract sets no maximum. A coded column stores the
bare code, as the validator reads it; what each code means is shown beside the
drop-down, in the input message of the cell and the note on the column's name,
and listed on the Guidance sheet.

    python -m orchestration.returns.template out.xlsx [version]
"""

from __future__ import annotations

import datetime as dt
import io
import math
import sys
from pathlib import Path

import xlsxwriter
from xlsxwriter.utility import xl_col_to_name, xl_rowcol_to_cell

from orchestration.returns.schema import Column, Contract, Table, load_contract

GUIDANCE_SHEET = "Guidance"
LISTS_SHEET = "Lists"
# Excel's last worksheet row (1-based): the checks of a table with no maximum rows reach it.
LAST_ROW = 1_048_576
# The Table style of every data sheet (blue header, banded rows).
TABLE_STYLE = "Table Style Light 9"
# Fixed so that the same contract always gives the same bytes.
CREATED = dt.datetime(2020, 1, 1)
# The one cell the template fills in for the LA: which version of the return
# the workbook follows. Skipped if a contract has no such table or column.
VERSION_TABLE, VERSION_COLUMN = "submission", "return_version"

# Excel's limits on data-validation prompts.
_TITLE_MAX, _MESSAGE_MAX = 32, 255
# Money columns are stored as DECIMAL(14, 2).
_MONEY_MAX = 999_999_999_999.99
_EARLIEST_DATE = dt.date(1900, 1, 1)

SEVERITY_WORDS = {"error": "Error", "warning": "Warning"}


def last_row(table: Table) -> int:
    """The last worksheet row (1-based) that carries the table's drop-downs and checks.

    The header is row 1, so it is 1 + the contract's maximum rows; a table with
    no maximum (placements can run to thousands of rows) is checked down to
    the sheet's last row. A check is one range in the file, whatever its length.
    """
    if table.rows_max is None:
        return LAST_ROW
    return min(1 + table.rows_max, LAST_ROW)


def table_rows(table: Table) -> int:
    """How many (empty) data rows the blank template's Excel Table spans: at least one, as
    Excel requires, or the contract's minimum, never beyond its maximum."""
    return max(1, min(table.rows_min, last_row(table) - 1))


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    first_word = text.split(maxsplit=1)[0]
    # Never capitalise a column or code name (la_code, places_filled ...).
    if "_" not in first_word and not any(ch.isdigit() for ch in first_word):
        text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def type_in_words(column: Column) -> str:
    """What a cell of this column must hold, for an LA analyst."""
    if column.type == "int":
        return f"Whole number, {column.min} or more"
    if column.type == "money":
        base = "Amount in pounds, up to 2 decimal places"
        return f"{base}; may be negative" if column.allow_negative else f"{base}, 0 or more"
    if column.type == "date":
        return "Date (YYYY-MM-DD)"
    if column.type == "datetime":
        return "Date, or date and time (YYYY-MM-DD hh:mm)"
    if column.type == "period":
        return "Month, typed as YYYY-MM (e.g. 2024-05)"
    if column.type == "code":
        return f"Code from the list '{column.code_list}'"
    return "Text"


def required_in_words(column: Column) -> str:
    return "Required" if column.required else "Optional"


def _rows_in_words(table: Table) -> str:
    if table.rows_max is not None and table.rows_min == table.rows_max:
        return f"Rows: exactly {table.rows_max} data row{'s' if table.rows_max != 1 else ''}."
    parts = []
    if table.rows_min:
        parts.append(f"at least {table.rows_min} data row{'s' if table.rows_min != 1 else ''}")
    if table.rows_max is not None:
        parts.append(f"at most {table.rows_max} data row{'s' if table.rows_max != 1 else ''}")
    return f"Rows: {' and '.join(parts)}." if parts else ""


def _key_in_words(table: Table) -> str:
    if not table.key:
        return ""
    if len(table.key) == 1:
        return f"Each {table.key[0]} may appear on at most one row."
    return f"Each combination of {', '.join(table.key[:-1])} and {table.key[-1]} may appear on at most one row."


def _required_codes_in_words(table: Table) -> str:
    parts = [
        f"a row with {column} {' and '.join(codes)}" for column, codes in table.required_codes.items()
    ]
    return f"Must include {'; '.join(parts)}." if parts else ""


def _personal_in_words(column: Column) -> str:
    if not column.personal:
        return ""
    words = "Personal data: never shown in validation findings"
    if column.pseudonymise:
        words += "; replaced by a pseudonym when the return is received"
    if column.degrade == "month":
        words += "; reduced to the first day of its month when the return is received"
    elif column.degrade:
        words += f"; reduced to its {column.degrade} when the return is received"
    return words + "."


class _Formats:
    def __init__(self, workbook: xlsxwriter.Workbook):
        add = workbook.add_format
        self.header = add({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": False})
        self.text = add({"num_format": "@"})
        self.date = add({"num_format": "yyyy-mm-dd"})
        self.datetime = add({"num_format": "yyyy-mm-dd hh:mm"})
        self.int = add({"num_format": "0"})
        self.money = add({"num_format": "#,##0.00"})
        self.title = add({"bold": True, "font_size": 16})
        self.heading = add({"bold": True, "font_size": 13, "font_color": "#1F4E79"})
        self.subheading = add({"bold": True, "font_size": 11})
        self.para = add({"text_wrap": True, "valign": "top"})
        self.cell = add({"text_wrap": True, "valign": "top", "border": 1})
        self.code_cell = add({"text_wrap": True, "valign": "top", "border": 1, "num_format": "@"})
        self.table_header = add({"bold": True, "bg_color": "#DDEBF7", "border": 1, "valign": "top"})

    def for_column(self, column: Column):
        return {
            "date": self.date,
            "datetime": self.datetime,
            "int": self.int,
            "money": self.money,
        }.get(column.type, self.text)


def _list_ranges(contract: Contract) -> dict[str, str]:
    """Code list name -> the absolute range of its codes on the Lists sheet."""
    ranges = {}
    for index, code_list in enumerate(contract.code_lists.values()):
        letter = xl_col_to_name(index)
        last = 1 + max(len(code_list.codes), 1)
        ranges[code_list.name] = f"{LISTS_SHEET}!${letter}$2:${letter}${last}"
    return ranges


def _write_lists(workbook: xlsxwriter.Workbook, contract: Contract, formats: _Formats) -> None:
    sheet = workbook.add_worksheet(LISTS_SHEET)
    for index, code_list in enumerate(contract.code_lists.values()):
        sheet.write_string(0, index, code_list.name, formats.header)
        for row, code in enumerate(code_list.codes, start=1):
            sheet.write_string(row, index, code)
        sheet.set_column(index, index, max(12, len(code_list.name) + 2, *(len(c) + 2 for c in code_list.codes)))
    sheet.hide()


def code_meanings(contract: Contract, column: Column) -> list[str]:
    """`code = meaning` for every code a coded column takes, in the contract's order."""
    return [f"{code} = {label}" for code, label in contract.code_lists[column.code_list].codes.items()]


def _codes_prompt(column: Column, contract: Contract, need: str) -> str:
    """A coded column's input message, shown beside the drop-down when one of its cells is picked.

    It lists `code = meaning`, one a line, with the column's description when
    all of that fits Excel's 255 characters; a list too long for them (the 28
    placement types) lists the codes that fit and says where the rest are.
    """
    lines = code_meanings(contract, column)
    head = f"{need} What each code means:"
    for message in (
        "\n".join([f"{_sentence(column.description)} {head}", *lines]),
        "\n".join([head, *lines]),
    ):
        if len(message) <= _MESSAGE_MAX:
            return message

    def more(count: int) -> str:
        return f"… {count} more: see the note on {column.name} (row 1) or the {GUIDANCE_SHEET} sheet."

    shown = [head]
    for line in lines:
        if len("\n".join([*shown, line, more(len(lines) - len(shown))])) > _MESSAGE_MAX:
            break
        shown.append(line)
    return _clip("\n".join([*shown, more(len(lines) - len(shown) + 1)]), _MESSAGE_MAX)


def _validation(column: Column, contract: Contract, list_ranges: dict[str, str], first_cell: str) -> dict:
    """The data-validation options for one column (first_cell: its row-2 cell, for custom formulas)."""
    need = "Required." if column.required else "Optional: may be left blank."
    description = _sentence(column.description)
    if column.type == "code":
        code_list = contract.code_lists[column.code_list]
        codes = list(code_list.codes)
        shown = ", ".join(codes) if len(", ".join(codes)) <= 80 else ", ".join(codes[:8]) + ", …"
        options = {
            "validate": "list",
            "source": f"={list_ranges[column.code_list]}",
            "error_message": f"Choose one of the codes in the drop-down list ({shown}). "
            f"What each code means is on the Guidance sheet under '{column.code_list}'.",
        }
    elif column.type == "int":
        options = {
            "validate": "integer",
            "criteria": ">=",
            "value": column.min,
            "error_message": f"Enter a whole number, {column.min} or more, with no decimals or text.",
        }
    elif column.type == "money":
        if column.allow_negative:
            options = {
                "validate": "decimal",
                "criteria": "between",
                "minimum": -_MONEY_MAX,
                "maximum": _MONEY_MAX,
                "error_message": "Enter an amount in pounds as a number (it may be negative), e.g. 1250.50.",
            }
        else:
            options = {
                "validate": "decimal",
                "criteria": "between",
                "minimum": 0,
                "maximum": _MONEY_MAX,
                "error_message": "Enter an amount in pounds as a number, 0 or more, e.g. 1250.50.",
            }
    elif column.type in ("date", "datetime"):
        what = "a date" if column.type == "date" else "a date, or a date and time"
        example = "2024-05-31" if column.type == "date" else "2024-05-31 or 2024-05-31 16:30"
        options = {
            "validate": "date",
            "criteria": ">=",
            "value": _EARLIEST_DATE,
            "error_message": f"Enter {what}, e.g. {example}.",
        }
    elif column.type == "period":
        cell = first_cell
        formula = (
            f'=AND(LEN({cell})=7,MID({cell},5,1)="-",ISNUMBER(VALUE(LEFT({cell},4))),'
            f'VALUE(RIGHT({cell},2))>=1,VALUE(RIGHT({cell},2))<=12,{cell}>="{contract.earliest_period}")'
        )
        options = {
            "validate": "custom",
            "value": formula,
            "error_message": f"Type the month as YYYY-MM, e.g. 2024-05 (not before {contract.earliest_period}).",
        }
    else:
        options = {"validate": "any"}
    options["input_title"] = _clip(column.name, _TITLE_MAX)
    if column.type == "code":
        options["input_message"] = _codes_prompt(column, contract, need)
    else:
        options["input_message"] = _clip(f"{description} {type_in_words(column)}. {need}", _MESSAGE_MAX)
    if "error_message" in options:
        options["error_title"] = _clip(f"Check {column.name}", _TITLE_MAX)
        options["error_message"] = _clip(options["error_message"], _MESSAGE_MAX)
    return options


def _header_comment(column: Column, contract: Contract) -> str:
    lines = [_sentence(column.description), f"Type: {type_in_words(column)}.", f"{required_in_words(column)}."]
    if personal := _personal_in_words(column):
        lines.append(personal)
    if column.type == "code":
        lines += ["What each code means:", *code_meanings(contract, column)]
    return "\n".join(line for line in lines if line)


# A header note's box: wide enough for a code and its meaning, tall enough for every line.
_NOTE_WIDTH, _NOTE_CHARS_PER_LINE, _NOTE_LINE_HEIGHT = 360, 55, 15


def _note_options(text: str) -> dict:
    lines = sum(max(1, math.ceil(len(line) / _NOTE_CHARS_PER_LINE)) for line in text.split("\n"))
    return {"width": _NOTE_WIDTH, "height": max(110, _NOTE_LINE_HEIGHT * lines + 10)}


def _column_width(column: Column, contract: Contract) -> int:
    width = len(column.name) + 3
    if column.type in ("date", "period"):
        width = max(width, 12)
    elif column.type == "datetime":
        width = max(width, 18)
    elif column.type == "code":
        width = max(width, *(len(c) + 4 for c in contract.code_lists[column.code_list].codes))
    elif column.type == "text":
        width = max(width, 16)
    return min(width, 40)


def _write_table(
    workbook: xlsxwriter.Workbook,
    table: Table,
    contract: Contract,
    formats: _Formats,
    list_ranges: dict[str, str],
) -> None:
    sheet = workbook.add_worksheet(table.name)
    # One Excel Table, named after the contract table, its header row the contract's columns and
    # one empty data row (Excel refuses a Table with none): typing or pasting below it grows it.
    table_options = {
        "name": table.name,
        "style": TABLE_STYLE,
        "autofilter": True,
        "columns": [{"header": column.name, "header_format": formats.header} for column in table.columns],
    }
    if sheet.add_table(0, 0, table_rows(table), len(table.columns) - 1, table_options) != 0:
        raise ValueError(f"could not make the sheet {table.name!r} an Excel Table (is the name one Excel takes?)")
    last = last_row(table)
    for index, column in enumerate(table.columns):
        sheet.set_column(index, index, _column_width(column, contract), formats.for_column(column))
        note = _header_comment(column, contract)
        sheet.write_comment(0, index, note, _note_options(note))
        if last < 2:  # the contract allows no data rows: nothing to check
            continue
        options = _validation(column, contract, list_ranges, xl_rowcol_to_cell(1, index))
        if sheet.data_validation(1, index, last - 1, index, options) != 0:
            raise ValueError(f"could not add the check for {table.name}.{column.name}: {options}")
    sheet.freeze_panes(1, 0)
    if table.name == VERSION_TABLE and VERSION_COLUMN in table.column_names:
        sheet.write_string(1, table.column_names.index(VERSION_COLUMN), contract.version, formats.text)


class _Guidance:
    """Writes the Guidance sheet top to bottom."""

    COLUMNS = (("A", 26), ("B", 34), ("C", 11), ("D", 60), ("E", 55))

    def __init__(self, workbook: xlsxwriter.Workbook, formats: _Formats):
        self.sheet = workbook.add_worksheet(GUIDANCE_SHEET)
        self.formats = formats
        self.row = 0
        for index, (_, width) in enumerate(self.COLUMNS):
            self.sheet.set_column(index, index, width)
        self.total_width = sum(width for _, width in self.COLUMNS)
        self.sheet.hide_gridlines(2)

    def line(self, text: str, fmt=None, gap: int = 0) -> None:
        fmt = fmt or self.formats.para
        lines = max(1, math.ceil(len(text) * 1.1 / self.total_width))
        self.sheet.merge_range(self.row, 0, self.row, len(self.COLUMNS) - 1, "", fmt)
        self.sheet.write_string(self.row, 0, text, fmt)
        if lines > 1:
            self.sheet.set_row(self.row, 15 * lines)
        elif fmt in (self.formats.title,):
            self.sheet.set_row(self.row, 22)
        self.row += 1 + gap

    def blank(self) -> None:
        self.row += 1

    def table(self, headers: list[str], rows: list[list[str]], code_columns: tuple[int, ...] = ()) -> None:
        for index, header in enumerate(headers):
            self.sheet.write_string(self.row, index, header, self.formats.table_header)
        self.row += 1
        for values in rows:
            for index, value in enumerate(values):
                fmt = self.formats.code_cell if index in code_columns else self.formats.cell
                self.sheet.write_string(self.row, index, value, fmt)
            self.row += 1
        self.blank()


def _how_to(contract: Contract) -> list[str]:
    tables = list(contract.tables.values())
    types = {c.type for t in tables for c in t.columns}
    steps = [
        f"Fill in one worksheet per table: {', '.join(t.name for t in tables)}. "
        "Each table, what a row means and what each column holds is described below.",
        "Do not rename the worksheets and do not change the column names in row 1. "
        "Hover over a column name to see what the column means.",
        "Enter the data from row 2 down, one record per row, with no blank rows in between. "
        "A table with nothing to report keeps its header row and no data rows.",
        "Each sheet's table is an Excel Table with a filter button on every column name. Type or paste your "
        "rows from row 2 down and the Table grows to take them in; the drop-down lists and checks cover every "
        "row the return allows.",
        "A column marked Required must be filled in on every row; an Optional column may be left blank.",
    ]
    if "code" in types:
        steps.append(
            "Columns that take a code have a drop-down list in each cell: pick the code from it, or type or "
            "paste the code itself. Click a cell of the column to see what each code means beside it, or hover "
            "over the column name for the full list; every list is also set out below under Code lists."
        )
    if types & {"int", "money"}:
        steps.append(
            "Counts are whole numbers; amounts are in pounds as plain numbers with up to 2 decimal places. "
            "Enter 0 where the answer is none; leave a cell blank only where the column is Optional."
        )
    if types & {"date", "datetime"}:
        steps.append("Enter dates as dates, e.g. 2024-05-31; the date columns are already formatted as YYYY-MM-DD.")
    if "period" in types:
        steps.append(
            "Enter the reporting month as text in the form YYYY-MM, e.g. 2024-05 "
            f"(from {contract.earliest_period} onwards)."
        )
    version_table = contract.tables.get(VERSION_TABLE)
    if version_table is not None and VERSION_COLUMN in version_table.column_names:
        steps.append(
            f"The {VERSION_COLUMN} cell on the {VERSION_TABLE} sheet is already filled in with "
            f"{contract.version}, the version of the return this template follows: leave it as it is."
        )
    personal = [c for t in tables for c in t.columns if c.personal]
    if personal:
        names = sorted({c.name for c in personal})
        steps.append(
            f"{', '.join(names)} are personal data. Enter your own identifiers and dates as held in your "
            "system: identifiers are replaced by a pseudonym, and dates of birth are reduced to the first of "
            "the month, as soon as the return is received. They never appear in a finding sent back to you."
        )
    steps += [
        "The checks in this workbook catch typing mistakes as you go. When the return is received it is "
        "checked again, including the rules listed at the end of this sheet, and every problem found is "
        "reported back to you with its sheet, row and column.",
        "A return with any error is rejected as a whole and nothing of it is loaded: put the errors right "
        "and send the whole return again. Warnings do not stop a return from loading, but please check them.",
        "Instead of this workbook you may send the same tables as CSV files (UTF-8, comma separated, header "
        "row first), one per table and named after it (for example "
        f"{tables[0].name}.csv), in a ZIP archive.",
        f"This {GUIDANCE_SHEET} sheet and the hidden {LISTS_SHEET} sheet are ignored when the return is read.",
    ]
    return steps


def _write_guidance(workbook: xlsxwriter.Workbook, contract: Contract, formats: _Formats) -> None:
    g = _Guidance(workbook, formats)
    g.line(contract.title, formats.title)
    g.line(
        f"Version {contract.version} of the return. This blank template was generated from the return "
        f"contract (file {contract.source.name}).",
        gap=1,
    )

    g.line("How to fill in this return", formats.heading)
    for number, step in enumerate(_how_to(contract), start=1):
        g.line(f"{number}. {step}")
    g.blank()

    g.line("The tables", formats.heading)
    g.blank()
    for table in contract.tables.values():
        g.line(f"Sheet: {table.name}", formats.subheading)
        g.line(_sentence(table.description))
        for words in (_rows_in_words(table), _key_in_words(table), _required_codes_in_words(table)):
            if words:
                g.line(words)
        rows = []
        for column in table.columns:
            meaning = _sentence(column.description)
            if personal := _personal_in_words(column):
                meaning += " " + personal
            codes = ""
            if column.code_list:
                codes = ", ".join(contract.code_lists[column.code_list].codes) + f" (list '{column.code_list}')"
            rows.append([column.name, type_in_words(column), required_in_words(column), meaning, codes])
        g.table(["Column", "Type", "Required", "Meaning", "Allowed codes"], rows)

    g.line("Code lists", formats.heading)
    g.blank()
    for code_list in contract.code_lists.values():
        g.line(f"List: {code_list.name}", formats.subheading)
        if code_list.description:
            g.line(_sentence(code_list.description))
        g.table(["Code", "Meaning"], [[code, label] for code, label in code_list.codes.items()], code_columns=(0,))

    g.line("Validation rules checked when the return is received", formats.heading)
    g.line(
        "Besides the types and codes above, these rules are checked. An error rejects the whole return; "
        "a warning is reported but the return is still loaded.",
    )
    rows = [
        [
            SEVERITY_WORDS.get(rule["severity"], rule["severity"]),
            rule["table"],
            _sentence(rule["message"]),
            rule["code"],
        ]
        for rule in contract.rules
    ]
    g.table(["Severity", "Sheet", "What is checked", "Rule code"], rows)


def write_template(out: Path, contract: Contract | None = None) -> Path:
    """Write the blank return workbook for `contract` (the newest version when none is given)."""
    contract = contract or load_contract()
    clashes = {GUIDANCE_SHEET.lower(), LISTS_SHEET.lower()} & {name.lower() for name in contract.tables}
    if clashes:
        raise ValueError(f"a contract table is named like a template sheet: {sorted(clashes)}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_numbers": False})
    workbook.set_properties(
        {
            "title": f"{contract.title} {contract.version} template",
            "subject": f"Blank return, version {contract.version}",
            "author": "Fostering sufficiency pipeline",
            "created": CREATED,
        }
    )
    formats = _Formats(workbook)
    list_ranges = _list_ranges(contract)
    _write_guidance(workbook, contract, formats)
    for table in contract.tables.values():
        _write_table(workbook, table, contract, formats, list_ranges)
    _write_lists(workbook, contract, formats)
    workbook.worksheets()[0].activate()
    workbook.close()
    out.write_bytes(buffer.getvalue())
    return out


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("monthly-return-template.xlsx")
    version = sys.argv[2] if len(sys.argv) > 2 else None
    print(write_template(target, load_contract(version)))
