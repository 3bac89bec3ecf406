"""Validate a return against its contract: every finding, not only the first.

The contract version comes from the return itself (its `submission` sheet), so
a 1.1 return is checked against the 1.1 YAML. Structure (tables, columns), then
cells (types, codes, blanks), then the contract's rules, each run on whole
columns. A return with any error is rejected whole by the caller.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from orchestration import reference
from orchestration.returns import cell_sql, cells
from orchestration.returns.findings import Findings
from orchestration.returns.readers import ROW, ReadResult, SheetData, normalise_name, read_return
from orchestration.returns.rule_checks import RuleInput, check_rules
from orchestration.returns.schema import STORABLE_DATES, STORABLE_MONEY_ABS_BELOW, STORABLE_WHOLE_MAX, Contract, Table, known_versions, load_contract

IGNORED_SHEETS = {"guidance", "lists", "readme", "notes", "instructions"}
_NO_FINDINGS = pd.DataFrame()  # a return's findings until validation has them all


@dataclass
class ValidatedReturn:
    """A return after validation: typed tables, findings, and who it is from."""

    path: Path
    form: str | None
    contract: Contract
    tables: MutableMapping[str, pd.DataFrame]
    findings: pd.DataFrame
    la_code: str | None = None  # GSS code, whatever the LA wrote
    la_code_submitted: str | None = None
    period: dt.date | None = None
    return_version: str | None = None
    submitted_at: dt.datetime | None = None

    @property
    def errors(self) -> int:
        """The errors listed. The list is capped per code, table and column (`findings.Findings`), so
        this may count fewer than the cells at fault; a return with any error stays rejected."""
        return self._count("error")

    @property
    def warnings(self) -> int:
        return self._count("warning")

    def _count(self, severity: str) -> int:
        # numpy, not pandas: asked several times for each of thousands of returns
        return int(np.count_nonzero(self.findings["severity"].to_numpy() == severity))

    @property
    def status(self) -> str:
        if self.errors:
            return "rejected"
        return "accepted_with_warnings" if self.warnings else "accepted"


def validate_path(path: Path, *, max_expanded_bytes: int, reference_dir: Path | None = None, today: dt.date | None = None) -> ValidatedReturn:
    return validate(path, read_return(path, max_expanded_bytes), reference_dir=reference_dir, today=today)


def validate(path: Path, read: ReadResult, *, reference_dir: Path | None = None, today: dt.date | None = None) -> ValidatedReturn:
    return validate_many([(path, read)], reference_dir=reference_dir, today=today)[0]


@dataclass
class ValidatedBatch:
    """A batch's returns after validation, and each table's typed rows of all of them stacked,
    each row with its return's place in `returns` (`_return`): what ingest stores, taken as is."""

    returns: list[ValidatedReturn]
    tables: dict[str, pd.DataFrame]


def validate_many(
    returns: list[tuple[Path, ReadResult]], *, reference_dir: Path | None = None, today: dt.date | None = None
) -> list[ValidatedReturn]:
    """Validate a batch of returns, each exactly as if alone (see `validate_batch`)."""
    return validate_batch(returns, reference_dir=reference_dir, today=today).returns


def validate_batch(
    returns: list[tuple[Path, ReadResult]], *, reference_dir: Path | None = None, today: dt.date | None = None
) -> ValidatedBatch:
    """Validate a batch of returns, each exactly as if alone.

    Parsing cells costs a fixed amount per column call, whatever the rows, so
    the cells of every return of the batch laid out alike (same contract, same
    columns where they were written) are parsed together, a column at a time;
    structure, table checks and rules then run return by return. The findings
    of each return, and their order, are those it would get on its own.
    """
    today = today or dt.date.today()
    contracts = _contracts_for([read for _, read in returns])
    shaped = [_shape(path, read, contract) for (path, read), contract in zip(returns, contracts)]
    readable = [s for s in shaped if s.readable]
    for number, s in enumerate(readable):
        s.number = number
    staged = _type_cells(shaped)
    for s in shaped:
        _gather(s)
    _identify([s.result for s in readable], reference_dir)
    checked = check_rules(
        [RuleInput(s.result.contract, frozenset(s.result.tables), s.letters, s.result.period) for s in readable], staged,
        reference_dir=reference_dir, today=today,
    )
    for s, found in zip(readable, checked):
        s.findings.extend(found)
    for s in shaped:
        s.result.findings = s.findings.frame()
    place = np.array([i for i, s in enumerate(shaped) if s.readable], dtype=np.int64)  # readable number -> place in the batch
    return ValidatedBatch([s.result for s in shaped], {name: frame.assign(_return=place[frame["_return"].to_numpy()]) for name, frame in staged.items()})


@dataclass
class _Shaped:
    """One return between the phases of validate_many: its columns found, its cells not yet parsed."""

    result: ValidatedReturn
    findings: Findings
    readable: bool
    columns: dict[str, tuple[dict, dict[str, str], set[str]]] = field(default_factory=dict)  # table -> (its cells by column, letters, missing)
    arrow: dict[str, bool] = field(default_factory=dict)  # table -> its cells are Arrow strings (CSV)
    by_table: dict[str, Findings] = field(default_factory=dict)  # each table's findings, in the order found
    letters: dict[str, dict[str, str]] = field(default_factory=dict)
    number: int = -1  # its place among the batch's readable returns (the rules' `_return`)


def _shape(path: Path, read: ReadResult, contract: Contract) -> _Shaped:
    findings = Findings()
    findings.extend(read.findings)
    sheets = {normalise_name(name): sheet for name, sheet in read.sheets.items()}
    result = ValidatedReturn(path=path, form=read.form, contract=contract, tables=SlicedTables(), findings=_NO_FINDINGS)  # set at the end
    shaped = _Shaped(result, findings, read.readable)
    if not read.readable:
        return shaped
    _check_sheets(contract, sheets, findings)
    for name, table in contract.tables.items():
        sheet = sheets.get(normalise_name(name))
        if sheet is None or sheet.unreadable:
            continue
        shaped.by_table[name] = Findings()
        found, shaped.letters[name], missing = _columns(table, sheet, shaped.by_table[name])
        if found is not None:
            shaped.columns[name] = (found, shaped.letters[name], missing)
            shaped.arrow[name] = sheet.is_arrow
    return shaped


def _type_cells(shaped: list[_Shaped]) -> dict[str, pd.DataFrame]:
    """Type the cells of each table once for every return whose columns are laid out alike:
    text cells (CSV) cleaned and parsed in one SQL query, workbook cells in pandas. Returns each
    table's typed rows of the whole batch, stacked, each with its return's `number` as `_return`."""
    staged: dict[str, list[pd.DataFrame]] = {}
    alike: dict[tuple, list[_Shaped]] = {}
    for s in shaped:
        for name, (_, letters, missing) in s.columns.items():
            layout = (s.result.contract.version, name, s.arrow[name], tuple(sorted(letters.items())), frozenset(missing))
            alike.setdefault(layout, []).append(s)
    with contextlib.ExitStack() as stack:
        con = None  # one in-memory DuckDB for every text table of the batch, opened only if there is one
        for (_, name, arrow, _, _), members in alike.items():
            if arrow and con is None:
                con = stack.enter_context(duckdb.connect())
            _type_alike(con, name, arrow, members, staged)
    return {name: pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0] for name, parts in staged.items()}


def _type_alike(con, name: str, arrow: bool, members: list[_Shaped], staged: dict[str, list[pd.DataFrame]]) -> None:
    """One table of the returns laid out alike, typed together."""
    contract = members[0].result.contract
    table = contract.tables[name]
    _, letters, missing = members[0].columns[name]
    found = [m.columns[name][0] for m in members]
    if arrow:
        clean = cell_sql.clean_and_parse(con, table, contract, cell_sql.stack(found, table))
    else:
        clean = _clean_objects(table, found)
    typed = _typed(table, clean, letters, missing, contract, [m.by_table[name] for m in members])
    cut_runs([m.result.tables for m in members], name, typed, clean.owner, empty=True)
    # the rules read the batch's tables stacked: this group's rows, each with its return's place in the batch
    staged.setdefault(name, []).append(typed.assign(_return=np.array([m.number for m in members])[clean.owner]))


def _clean_objects(table: Table, found: list[dict]) -> cell_sql.CleanCells:
    """A workbook's cells stripped and blank rows dropped, as `cell_sql` does for text cells; nothing parsed yet."""
    sizes = [len(f[ROW]) for f in found]
    data = {
        c.name: cells.clean(pd.Series(np.concatenate([
            np.full(n, None, dtype=object) if f[c.name] is None else f[c.name] for f, n in zip(found, sizes)
        ]), dtype=object))
        for c in table.columns
    }
    keep = pd.DataFrame(data).notna().any(axis=1).to_numpy()
    owner = np.repeat(np.arange(len(sizes)), sizes)[keep]
    rows = pd.Series(np.concatenate([f[ROW] for f in found])[keep], dtype="int64")
    text = {name: values[keep].reset_index(drop=True) for name, values in data.items()}
    return cell_sql.CleanCells(owner, rows, text, {name: t.isin(cells.EXCEL_ERRORS) for name, t in text.items()}, {})


class SlicedTables(MutableMapping):
    """A return's typed tables, each a run of rows of its batch's stacked table, cut out only
    when read: ingest stores the stacked rows as they are, so most returns' tables never are."""

    def __init__(self) -> None:
        self._entries: dict[str, pd.DataFrame | tuple[pd.DataFrame, int, int]] = {}

    def cut(self, name: str, stacked: pd.DataFrame, start: int, stop: int) -> None:
        """`name` is rows start..stop of `stacked`, cut when first read."""
        self._entries[name] = (stacked, int(start), int(stop))

    def uncut(self, name: str) -> tuple[pd.DataFrame, int, int] | None:
        """(stacked, start, stop) while `name` has not been read (nor replaced); else None."""
        entry = self._entries.get(name)
        return entry if isinstance(entry, tuple) else None

    def rows(self, name: str) -> int:
        """How many rows `name` has (0 when the return has no such table), without cutting it."""
        entry = self._entries.get(name)
        if isinstance(entry, tuple):
            return entry[2] - entry[1]
        return 0 if entry is None else len(entry)

    def __getitem__(self, name: str) -> pd.DataFrame:
        entry = self._entries[name]
        if isinstance(entry, tuple):
            stacked, start, stop = entry
            entry = self._entries[name] = stacked.iloc[start:stop].reset_index(drop=True)
        return entry

    def __setitem__(self, name: str, frame: pd.DataFrame) -> None:
        self._entries[name] = frame

    def __delitem__(self, name: str) -> None:
        del self._entries[name]

    def __contains__(self, name: object) -> bool:  # Mapping's would read (and so cut) the table
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


def cut_runs(targets: list[SlicedTables], name: str, stacked: pd.DataFrame, owner: np.ndarray, *, empty: bool) -> None:
    """Give each of `targets` its run of `stacked` as table `name`; `owner` (sorted: each owner's
    rows together) is the place in `targets` of each row's return. A target with no rows gets an
    empty table when `empty`, else none."""
    bounds = np.searchsorted(owner, np.arange(len(targets) + 1))
    for i in range(len(targets)) if empty else np.flatnonzero(np.diff(bounds)):
        targets[i].cut(name, stacked, bounds[i], bounds[i + 1])


def _gather(s: _Shaped) -> None:
    """Each table's cell findings into the return's, in table order."""
    if not s.readable:
        return
    for name in s.result.contract.tables:
        if name in s.by_table:
            s.findings.extend(s.by_table[name])


def _contracts_for(reads: list[ReadResult]) -> list[Contract]:
    """The contract each return says it follows (its first `return_version`), the newest when it
    says none we know; the batch's version cells are read as text in one call."""
    found, owners = [], []
    for number, read in enumerate(reads):
        sheet = {normalise_name(name): s for name, s in read.sheets.items()}.get("submission")
        column = next((c for c in sheet.headers if normalise_name(c) == "return_version"), None) if sheet else None
        if column is not None:
            found.append(sheet.objects(column))
            owners.append(np.full(len(found[-1]), number))
    chosen = [load_contract() for _ in reads]
    if not found:
        return chosen
    versions, _ = cells.as_text(cells.clean(pd.Series(np.concatenate(found), dtype=object)).dropna())
    firsts = pd.Series(versions.to_numpy(), index=np.concatenate(owners)[versions.index])
    known = known_versions()
    for number, version in firsts[~firsts.index.duplicated()].items():
        if (text := _version_text(version)) in known:
            chosen[number] = load_contract(text)
    return chosen


def _version_text(value: str) -> str:
    return value if "." in value else f"{value}.0"  # Excel turns 1.0 into 1


def _check_sheets(contract: Contract, sheets: dict[str, SheetData], findings: Findings) -> None:
    expected = set(contract.tables)
    extra = [s.source for key, s in sheets.items() if key not in expected and key not in IGNORED_SHEETS]
    for name in extra:
        findings.add(
            "TABLE-UNKNOWN", "warning", f"'{name}' is not one of the return's tables and was ignored",
            table=name,
        )
    for name in contract.tables:
        if name in sheets:
            continue
        close = difflib.get_close_matches(name, [normalise_name(e) for e in extra], n=1, cutoff=0.75)
        hint = ""
        if close:
            original = next(e for e in extra if normalise_name(e) == close[0])
            hint = f" A sheet or file named '{original}' was found: did you mean '{name}'? Rename it."
        findings.add(
            "TABLE-MISSING",
            "error",
            f"the return has no '{name}' table: add a sheet (or a CSV file {name}.csv) named exactly '{name}'.{hint}",
            table=name,
        )


def _columns(table: Table, sheet: SheetData, findings: Findings) -> tuple[dict | None, dict[str, str], set[str]]:
    """The table's contract columns, by contract name, from whatever headers were written.

    Returns each found column's cells with ROW (None when the sheet has no
    recognisable header row), the Excel letters, and the contract columns that
    were missing.
    """
    rows = sheet.rows()
    header_row = int(rows.min()) - 1 if len(rows) else 1
    headers = sheet.headers
    by_name: dict[str, list[str]] = {}
    for header in headers:
        by_name.setdefault(normalise_name(header.split("\x00")[0]), []).append(header)
    if headers and not set(by_name) & set(table.column_names):
        # Not one header matches: the header row is missing or something sits above it.
        # Say so once, and show none of the row's cells: they may be a child's details.
        findings.add(
            "TABLE-NO-HEADER", "error",
            f"the first non-empty row of '{table.name}' must be the header row with the column names "
            f"({', '.join(table.column_names[:4])}, ...): no column name was recognised in row {header_row}",
            table=table.name, rows=header_row,
        )
        return None, {}, set(table.column_names)
    out: dict[str, object] = {ROW: rows}
    letters: dict[str, str] = {}
    missing: set[str] = set()
    for column in table.columns:
        found = by_name.pop(column.name, None)
        if found is None:
            missing.add(column.name)
            if column.required:
                findings.add(
                    "COLUMN-MISSING", "error", f"the required column '{column.name}' is missing: add it to the header row",
                    table=table.name, rows=header_row, column=column.name,
                )
            out[column.name] = None
            continue
        if len(found) > 1:
            findings.add(
                "COLUMN-DUPLICATE", "error", f"the column '{column.name}' appears {len(found)} times: keep one",
                table=table.name, rows=header_row, column=column.name, letter=sheet.letters.get(found[1]),
            )
        out[column.name] = sheet.column(found[0])
        letters[column.name] = sheet.letters.get(found[0])
    unknown = [header for headers in by_name.values() for header in headers]
    if unknown:  # one call for them all: a header row of garbage may have thousands of cells
        shown = pd.Series([header.split("\x00")[0] for header in unknown], dtype=object)
        findings.add(
            "COLUMN-UNKNOWN", "warning", shown.map(lambda name: f"the column '{name}' is not part of the return and was ignored"),
            table=table.name, rows=pd.Series(header_row, index=shown.index), values=shown,
            letter=pd.Series([sheet.letters.get(header) for header in unknown], dtype=object),
        )
    return out, letters, missing


def _typed(
    table: Table, clean: cell_sql.CleanCells, letters: dict[str, str], missing: set[str], contract: Contract,
    findings: list[Findings],
) -> pd.DataFrame:
    """The typed rows of the returns stacked in `clean` (their non-blank rows), findings to each its own."""
    owner = pd.Series(clean.owner)
    rows = clean.rows
    typed = pd.DataFrame({ROW: rows})
    for column in table.columns:
        raw = clean.text[column.name]
        flag = _flagger(findings, owner, table, column, letters, rows, raw)
        excel_error = clean.excel_error[column.name]
        if column.name not in missing:  # a missing column is reported once, not once per row
            if excel_error.any():
                flag("CELL-EXCEL-ERROR", "the cell holds an Excel error: fix the formula or type the value", excel_error)
                raw = raw.mask(excel_error, None)
            if column.required:
                flag("CELL-REQUIRED", f"'{column.name}' must not be blank", raw.isna() & ~excel_error)
        values, problems = _parse(column, raw, contract, clean.parsed.get(column.name))
        bad = problems.notna()
        if bad.any():
            flag("CELL-CODE-UNKNOWN" if column.type == "code" else "CELL-WRONG-TYPE", problems, bad)
        values = _ranges(column, values, flag)
        typed[column.name] = values.values
    return typed


def _flagger(findings: list[Findings], owner: pd.Series, table: Table, column, letters: dict[str, str], rows: pd.Series, raw: pd.Series):
    """A function that reports the cells of one column picked by a mask, each to its own return's findings
    (values hidden for personal data)."""

    whose = owner.to_numpy()  # the returns are stacked one after another: each one's cells are a run

    def flag(code: str, expected, mask: pd.Series, severity: str = "error") -> None:
        if not mask.index.equals(owner.index):
            mask = mask.reindex(owner.index, fill_value=False)
        hits = np.flatnonzero(mask.to_numpy(dtype=bool, na_value=False))
        if not hits.size:
            return
        # `expected` and the values are picked by `add` for the rows it keeps (at most its cap per column)
        for part in np.split(hits, np.flatnonzero(np.diff(whose[hits])) + 1):
            findings[whose[part[0]]].add(
                code, severity, expected,
                table=table.name, column=column.name, letter=letters.get(column.name),
                rows=rows.iloc[part], values=None if column.personal else raw,
            )

    return flag


def _parse(column, raw: pd.Series, contract: Contract, parsed: pd.Series | None = None) -> tuple[pd.Series, pd.Series]:
    """The column's values and what to say of each cell that is not one. `parsed` holds what SQL
    already typed (`cell_sql`): only the cells it left are parsed here."""
    if parsed is None:
        return _parse_all(column, raw, contract)
    rest = raw.notna() & parsed.isna()
    problems = np.full(len(raw), None, dtype=object)
    if not rest.any():
        return parsed, pd.Series(problems, index=raw.index, dtype=object)
    values, said = _parse_all(column, raw[rest], contract)
    parsed = parsed.copy()
    parsed[rest] = values
    problems[rest.to_numpy()] = _nones(said).to_numpy()
    return parsed, pd.Series(problems, index=raw.index, dtype=object)


def _nones(series: pd.Series) -> pd.Series:
    """An object column with None, never NaN, for a missing cell (as the pandas parsers give it)."""
    values = series.to_numpy(dtype=object)
    return pd.Series(np.where(pd.isna(values), None, values), index=series.index, dtype=object)


def _parse_all(column, raw: pd.Series, contract: Contract) -> tuple[pd.Series, pd.Series]:
    if column.type == "int":
        return cells.as_number(raw, money=False)
    if column.type == "money":
        return cells.as_number(raw, money=True)
    if column.type in ("date", "datetime"):
        return cells.as_date(raw, with_time=column.type == "datetime")
    if column.type == "period":
        return cells.as_period(raw)
    if column.type == "code":
        return cells.as_code(raw, contract.code_lists[column.code_list].codes)
    return cells.as_text(raw)


_FIRST_DATE, _LAST_DATE = (pd.Timestamp(d) for d in STORABLE_DATES)


def _storable(column, values: pd.Series, flag) -> pd.Series:
    """Values the warehouse cannot hold exactly are errors here, never a failed insert later;
    they are blanked so that no later check reports the same cell again."""
    if column.type in ("date", "datetime", "period"):
        outside = values.notna() & ((values < _FIRST_DATE) | (values >= _LAST_DATE + pd.Timedelta(days=1)))
        flag("CELL-OUT-OF-RANGE", f"expected a date from {STORABLE_DATES[0]} to {STORABLE_DATES[1]}", outside)
        return values.mask(outside).astype("datetime64[ns]")
    if column.type == "int":
        huge = values.notna() & (values.abs() > STORABLE_WHOLE_MAX)
        flag("CELL-OUT-OF-RANGE", f"expected a whole number of at most {STORABLE_WHOLE_MAX:,}: this is too large to be a count", huge)
        return values.mask(huge)
    if column.type == "money":
        huge = values.notna() & (values.abs() >= STORABLE_MONEY_ABS_BELOW)
        flag("CELL-OUT-OF-RANGE", f"expected an amount of less than £{STORABLE_MONEY_ABS_BELOW:,} (at most 12 digits before the point)", huge)
        return values.mask(huge)
    return values


def _ranges(column, values: pd.Series, flag) -> pd.Series:
    """Whole numbers, minimums, signs and pennies; returns the values as stored."""
    values = _storable(column, values, flag)
    if column.type not in ("int", "money"):
        return values
    known = values.notna()
    if column.type == "int":
        fraction = known & (values % 1 != 0)
        flag("CELL-NOT-WHOLE", "expected a whole number (no decimals)", fraction)
    if not (column.type == "money" and column.allow_negative):
        flag("CELL-NEGATIVE", "expected a number of 0 or more (no negative values)", known & (values < 0))
    if column.min > 0:
        flag("CELL-BELOW-MINIMUM", f"expected a number of {column.min} or more", known & (values >= 0) & (values < column.min))
    if column.type == "int":
        return values.where(~fraction).astype("Int64")
    pennies = known & ((values * 100).round(6) % 1 != 0)
    flag("CELL-MONEY-DECIMALS", "money has at most 2 decimal places: the value was rounded to the penny", pennies, severity="warning")
    return values.round(2)


def _identify(results: list[ValidatedReturn], reference_dir: Path | None) -> None:
    """Who and when, from each submission table (never from the file name); the LA codes of the
    whole batch looked up in one call."""
    firsts = []
    for result in results:
        frame = result.tables.get("submission")
        if frame is None or frame.empty:
            continue
        first = frame.iloc[0]
        submitted = first.get("la_code")
        result.la_code_submitted = None if pd.isna(submitted) else str(submitted)
        result.period = None if pd.isna(first.get("period")) else first["period"].date()
        result.return_version = None if pd.isna(first.get("return_version")) else str(first["return_version"])
        result.submitted_at = None if pd.isna(first.get("submitted_at")) else first["submitted_at"].to_pydatetime()
        if result.la_code_submitted:
            firsts.append(result)
    if firsts:
        gss = reference.gss_for(pd.Series([r.la_code_submitted for r in firsts], dtype=object), reference_dir)
        for result, code in zip(firsts, gss):
            result.la_code = None if pd.isna(code) else code
