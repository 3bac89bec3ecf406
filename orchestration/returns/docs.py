"""The return's reference page, rendered from the contract YAML.

``docs/return-spec-v<version>.md`` is generated, one per known version, and
never edited by hand; a test keeps the committed file equal to what this
renders. Regenerate after changing a contract:

    python -m orchestration.returns.docs
"""

from __future__ import annotations

import sys
from pathlib import Path

from orchestration.returns.schema import (
    STORABLE_DATES, STORABLE_MONEY_ABS_BELOW, STORABLE_WHOLE_MAX, Column, Contract, Table, known_versions, load_contract,
)
from orchestration.settings import PROJECT_ROOT

REGENERATE = "python -m orchestration.returns.docs"

# What each contract column type means, for the page's "Types" list.
# The limits are what the warehouse can hold exactly (schema.STORABLE_*); beyond them a cell is CELL-OUT-OF-RANGE.
_DATES = f"from {STORABLE_DATES[0]} to {STORABLE_DATES[1]}"
TYPE_MEANINGS = {
    "int": f"a whole number, 0 or more unless a higher minimum is shown, at most {STORABLE_WHOLE_MAX:,}",
    "money": "an amount in pounds (GBP) with up to 2 decimal places, 0 or more unless shown as possibly negative, "
    f"less than £{STORABLE_MONEY_ABS_BELOW:,} either way",
    "date": f"a date as `YYYY-MM-DD`, {_DATES}; Excel date cells are accepted",
    "datetime": f"a date, or a date and time (e.g. `2024-06-03` or `2024-06-03 14:30`), {_DATES}; Excel date cells are accepted",
    "period": "a month as `YYYY-MM`",
    "code": "one of the codes of the named code list",
    "text": "free text",
}

SEVERITY_MEANINGS = {
    "error": "the return is rejected whole: nothing of it is loaded, and the LA gets the findings",
    "warning": "the return is loaded and the finding is reported with it",
}


def doc_filename(version: str) -> str:
    return f"return-spec-v{version}.md"


def _cell(text: object) -> str:
    """Text made safe for one Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _row(*cells: object) -> str:
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _table(headers: list[str], rows: list[list[object]]) -> list[str]:
    return [_row(*headers), "|" + "---|" * len(headers), *(_row(*r) for r in rows)]


def _source_name(contract: Contract) -> str:
    try:
        return contract.source.resolve().relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        return contract.source.name


def _anchor(code_list: str) -> str:
    # GitHub's anchor for the heading "Code list `<name>`".
    return f"#code-list-{code_list.lower()}"


def _type(column: Column) -> str:
    if column.type == "int":
        return f"int ≥ {column.min}"
    if column.type == "money":
        return "money (may be negative)" if column.allow_negative else "money ≥ 0"
    if column.type == "period":
        return "period (`YYYY-MM`)"
    return column.type


def _codes(column: Column, contract: Contract) -> str:
    if not column.code_list:
        return ""
    codes = list(contract.code_lists[column.code_list].codes)
    link = f"[`{column.code_list}`]({_anchor(column.code_list)})"
    if len(codes) > 10:
        return f"{link} ({len(codes)} codes)"
    return f"{link}: " + ", ".join(f"`{c}`" for c in codes)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _table_notes(table: Table) -> list[str]:
    notes = []
    if table.rows_max is not None and table.rows_min == table.rows_max:
        notes.append(f"Rows: exactly {_plural(table.rows_max, 'data row')}.")
    elif table.rows_min or table.rows_max is not None:
        parts = []
        if table.rows_min:
            parts.append(f"at least {_plural(table.rows_min, 'data row')}")
        if table.rows_max is not None:
            parts.append(f"at most {_plural(table.rows_max, 'data row')}")
        notes.append(f"Rows: {' and '.join(parts)}.")
    if table.key:
        names = ", ".join(f"`{k}`" for k in table.key)
        if len(table.key) > 1:
            notes.append(f"Key: each ({names}) combination at most once.")
        else:
            notes.append(f"Key: each {names} at most once.")
    for column, codes in table.required_codes.items():
        notes.append(f"Must include a row for `{column}` " + " and ".join(f"`{c}`" for c in codes) + ".")
    return notes


def _handling(column: Column) -> str:
    steps = []
    if column.pseudonymise:
        steps.append(
            "pseudonymised: replaced, before it is stored, by a keyed hash (HMAC-SHA256 of the LA code and the "
            "identifier under the operator's secret key), so the same identifier keeps the same pseudonym "
            "across months and the raw value is never stored"
        )
    if column.degrade == "month":
        steps.append("degraded: reduced to the first day of its month before it is stored")
    elif column.degrade:
        steps.append(f"degraded to its {column.degrade} before it is stored")
    return "; ".join(steps) or "stored as submitted"


def render_markdown(contract: Contract | None = None) -> str:
    """The contract as a Markdown reference page."""
    contract = contract or load_contract()
    tables = list(contract.tables.values())
    types_used = {c.type for table in tables for c in table.columns}
    used_types = [t for t in TYPE_MEANINGS if t in types_used] + sorted(types_used - set(TYPE_MEANINGS))
    out: list[str] = [
        f"> Generated from `{_source_name(contract)}` by `{REGENERATE}`. "
        "Do not edit this file by hand: change the YAML and run that command again.",
        "",
        f"# {contract.title} — version {contract.version}",
        "",
        f"The data contract between a local authority (LA) and the pipeline for version {contract.version} "
        "of the return: one return per LA per reporting month. The validator, the raw warehouse tables, the "
        "blank template workbook and this page are all generated from the contract file.",
        "",
        f"Earliest reporting period accepted: `{contract.earliest_period}`.",
        "",
        "## The return as a file",
        "",
        "A return is one of:",
        "",
        "- an **XLSX workbook** with one worksheet per table, named exactly as the table ("
        + ", ".join(f"`{t.name}`" for t in tables)
        + "; case-insensitive, surrounding spaces ignored). Other sheets, such as `Guidance` and `Lists` "
        "in the blank template, are ignored;",
        "- a **ZIP archive of CSV files**, one per table, named `<table>.csv` (UTF-8 with or without BOM, "
        "comma separated, header row first);",
        "- a **folder** holding those CSV files.",
        "",
        "The first row of every table is its header. Header matching ignores case, surrounding spaces and the "
        "difference between spaces and underscores. Columns not named here are ignored with a warning. Blank "
        "trailing rows are ignored.",
        "",
        "The blank template workbook, with drop-down lists, checks and guidance for this version, is written by "
        f"`python -m orchestration.returns.template <out.xlsx> {contract.version}`.",
        "",
        "## Tables",
        "",
        "Types:",
        "",
        *(f"- `{t}`: {TYPE_MEANINGS.get(t, t)}" for t in used_types),
        "",
        "*Required* means the column must exist and no cell may be blank; an optional column may be "
        "missing or blank.",
        "",
    ]
    for table in tables:
        out += [f"### `{table.name}`", "", table.description.strip(), ""]
        notes = _table_notes(table)
        if notes:
            out += [*(f"- {n}" for n in notes), ""]
        rows = [
            [f"`{c.name}`", _type(c), "yes" if c.required else "no", c.description, _codes(c, contract)]
            for c in table.columns
        ]
        out += [*_table(["column", "type", "required", "meaning", "codes"], rows), ""]

    out += ["## Code lists", ""]
    for code_list in contract.code_lists.values():
        out += [f"### Code list `{code_list.name}`", ""]
        if code_list.description:
            out += [code_list.description.strip(), ""]
        rows = [[f"`{code}`", label] for code, label in code_list.codes.items()]
        out += [*_table(["code", "meaning"], rows), ""]

    out += [
        "## Rules",
        "",
        "Besides each column's type, required-ness and code list, the validator checks these rules. "
        "Every finding says its rule code, severity, table, row, column and what was expected. Severity:",
        "",
        *(f"- `{s}`: {m}" for s, m in SEVERITY_MEANINGS.items()),
        "",
        "Each rule is SQL in the contract file (`when`: a condition on one row of the table, true for a finding; "
        "`select`: a query giving one row per finding), checked over one return at a time as if its tables were "
        "the only ones. The subset of SQL a rule may use is in docs/contract-rules.md. `{...}` in a message is "
        "written with that row's values.",
        "",
        *_table(
            ["code", "severity", "table", "column", "message"],
            [[f"`{r['code']}`", r["severity"], f"`{r['table']}`", f"`{r['column']}`" if r.get("column") else "", _message(r)] for r in contract.rules],
        ),
        "",
        *_rule_sql(contract),
        "## Personal data",
        "",
    ]
    personal = [(t, c) for t in tables for c in t.columns if c.personal or c.pseudonymise or c.degrade]
    if personal:
        out += [
            "These columns are personal data: their values never appear in a finding, and ingest handles them "
            "as follows:",
            "",
            *_table(
                ["table", "column", "at ingest"],
                [[f"`{t.name}`", f"`{c.name}`", _handling(c)] for t, c in personal],
            ),
            "",
        ]
    else:
        out += ["This version of the return holds no personal data columns.", ""]
    return "\n".join(out).rstrip("\n") + "\n"


def _message(rule: dict) -> str:
    return (rule["message"] + rule.get("detail", "")).replace("|", "\\|")


def _rule_sql(contract: Contract) -> list[str]:
    """Every rule's SQL as written in the contract, and the functions rules may call."""
    out = ["### What each rule checks", ""]
    for rule in contract.rules:
        where = f"`{rule['table']}`" + (f", column `{rule['column']}`" if rule.get("column") else "")
        out += [f"**`{rule['code']}`** ({rule['severity']}, {where})", ""]
        if "when" in rule:
            out += ["A finding for each row where:", "", "```sql", " ".join(rule["when"].split()), "```", ""]
        else:
            out += ["A finding for each row of:", "", "```sql", rule["select"].strip(), "```", ""]
        if rule.get("show"):
            out += [f"Shows `{rule['show']}` as the value found.", ""]
    if contract.functions:
        out += ["### Functions the rules call", ""]
        for name, spec in contract.functions.items():
            out += [f"**`{name}({', '.join(spec['args'])})`**: {spec.get('description', '')}", "", "```sql", " ".join(spec["sql"].split()), "```", ""]
    return out


def write_docs(out_dir: Path) -> list[Path]:
    """Write docs/return-spec-v<version>.md for every known version of the return."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for version in known_versions():
        path = out_dir / doc_filename(version)
        with path.open("w", encoding="utf-8", newline="\n") as handle:
            handle.write(render_markdown(load_contract(version)))
        written.append(path)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else PROJECT_ROOT / "docs"
    for written in write_docs(target):
        print(written)
