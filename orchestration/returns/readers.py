"""Read a return in any of its three forms into one table of cells per table.

Readers do no checking beyond what it takes to open the file safely: every
cell comes back as the workbook or CSV holds it (strings, numbers, dates) with
the row number the LA sees, and the validator decides what it means. Problems
that stop a file being read at all come back as findings, never exceptions.
"""

from __future__ import annotations

import csv
import html
import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import python_calamine

from orchestration.returns.findings import Findings, excel_letter

ROW = "_row"  # the row number as the LA sees it (Excel row or CSV line)
XLSX_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # .xls and other old Office files


@dataclass
class SheetData:
    """One table as read: cells as found, keyed by the header as written, plus ROW.

    A CSV file's cells stay the Arrow table pyarrow read (every cell a string),
    so validation types them in SQL without a Python object per cell; a
    workbook's cells are Python objects (strings, numbers, dates) in a DataFrame.
    """

    source: str
    cells: pd.DataFrame | pa.Table  # one column per header cell (as written), plus ROW
    letters: dict[str, str] = field(default_factory=dict)  # header -> Excel letter
    unreadable: bool = False  # its bytes could not be read as a table (already a finding): nothing more to say of it

    @property
    def is_arrow(self) -> bool:
        return isinstance(self.cells, pa.Table)

    @property
    def headers(self) -> list[str]:
        names = self.cells.column_names if self.is_arrow else list(self.cells.columns)
        return [n for n in names if n != ROW]

    def rows(self) -> np.ndarray:
        """The row number of every row read, as the LA sees it."""
        column = self.cells[ROW]
        return column.to_numpy() if self.is_arrow else column.to_numpy(dtype="int64")

    def column(self, header: str):
        """One column's cells: an Arrow array of strings (CSV) or an array of Python objects (workbook)."""
        return self.cells[header] if self.is_arrow else self.cells[header].to_numpy(dtype=object)

    def objects(self, header: str) -> np.ndarray:
        """One column's cells as Python objects, whatever the form."""
        found = self.column(header)
        return found.to_numpy(zero_copy_only=False) if self.is_arrow else found


@dataclass
class ReadResult:
    form: str | None  # xlsx | zip | folder | None when unreadable
    sheets: dict[str, SheetData]  # keyed by the sheet or file name as found
    findings: Findings

    @property
    def readable(self) -> bool:
        return self.form is not None


def normalise_name(name: str) -> str:
    """Header and sheet matching: case, surrounding spaces, spaces vs underscores."""
    return re.sub(r"[\s_]+", "_", str(name).strip().lower())


def detect_form(path: Path) -> tuple[str | None, str | None]:
    """('xlsx' | 'zip' | 'folder', None) or (None, why it is not a return)."""
    if path.is_dir():
        return "folder", None
    if not path.exists():
        return None, "the file does not exist"
    if path.stat().st_size == 0:
        return None, "the file is empty (0 bytes)"
    with path.open("rb") as handle:
        head = handle.read(8)
    if head.startswith(OLE_MAGIC):
        return None, "this is an old-format Excel (.xls) or other legacy Office file: save it as an Excel Workbook (.xlsx)"
    if head.startswith(XLSX_MAGIC) and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
        if "xl/workbook.xml" in names:
            return "xlsx", None
        if "[Content_Types].xml" in names:
            return None, "this is an Office document but not an Excel workbook: save the return as .xlsx"
        return "zip", None
    if path.suffix.lower() == ".csv":
        return None, "a single CSV file is not a whole return: put one CSV per table in a folder or a ZIP file"
    return None, "the file is not an Excel workbook (.xlsx), a ZIP of CSV files or a folder of CSV files"


def read_return(path: Path, max_expanded_bytes: int) -> ReadResult:
    findings = Findings()
    form, why = detect_form(path)
    if form is None:
        findings.add("FILE-NOT-A-RETURN", "error", why)
        return ReadResult(None, {}, findings)
    reader = {"xlsx": _read_xlsx, "zip": _read_zip, "folder": _read_folder}[form]
    try:
        sheets = reader(path, max_expanded_bytes, findings)
    except (zipfile.BadZipFile, python_calamine.CalamineError, OSError, ValueError) as exc:
        findings.add("FILE-UNREADABLE", "error", f"the file could not be opened as {form}: {type(exc).__name__}")
        return ReadResult(None, {}, findings)
    if sheets is None:
        return ReadResult(None, {}, findings)
    return ReadResult(form, sheets, findings)


def _too_large(findings: Findings, size: int, limit: int) -> None:
    findings.add(
        "FILE-TOO-LARGE",
        "error",
        f"the return expands to {size / 1e6:.1f} MB, more than the limit of {limit / 1e6:.1f} MB: "
        "check it holds only the return's tables",
    )


# --- XLSX -------------------------------------------------------------------

_SHEET_XML = re.compile(rb'<sheet\b[^>]*?name="([^"]*)"[^>]*?r:id="([^"]*)"')
_REL_XML = re.compile(rb'<Relationship\b[^>]*?Id="([^"]*)"[^>]*?Target="([^"]*)"')
_REL_XML_REV = re.compile(rb'<Relationship\b[^>]*?Target="([^"]*)"[^>]*?Id="([^"]*)"')
_ERROR_CELL = re.compile(rb'<c\b([^>]*\bt="e"[^>]*)>(.*?)</c>', re.S)
_CELL_REF = re.compile(rb'\br="([A-Z]+)(\d+)"')
_CELL_VALUE = re.compile(rb"<v>([^<]*)</v>")


def _xml_unescape(raw: bytes) -> str:
    return html.unescape(raw.decode("utf-8"))


def _error_cells(archive: zipfile.ZipFile) -> dict[str, dict[tuple[int, int], str]]:
    """Cells holding an Excel error (#REF!, #N/A, ...), by sheet name.

    The fast reader turns these into blanks, which would hide them; the sheet
    XML keeps them as cells of type "e", so they are found there instead.
    """
    workbook = archive.read("xl/workbook.xml")
    rels = archive.read("xl/_rels/workbook.xml.rels")
    targets = {rid: target for rid, target in _REL_XML.findall(rels)}
    targets.update({rid: target for target, rid in _REL_XML_REV.findall(rels)})
    found: dict[str, dict[tuple[int, int], str]] = {}
    for name, rid in _SHEET_XML.findall(workbook):
        target = targets.get(rid, b"").decode()
        member = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
        if member not in archive.namelist():
            continue
        cells = {}
        for attrs, body in _ERROR_CELL.findall(archive.read(member)):
            ref = _CELL_REF.search(attrs)
            value = _CELL_VALUE.search(body)
            if ref:
                col = sum((ord(ch) - 64) * 26**i for i, ch in enumerate(reversed(ref.group(1).decode())))
                cells[(int(ref.group(2)) - 1, col - 1)] = value.group(1).decode() if value else "#ERROR"
        if cells:
            found[_xml_unescape(name)] = cells
    return found


def _read_xlsx(path: Path, limit: int, findings: Findings) -> dict[str, SheetData] | None:
    with zipfile.ZipFile(path) as archive:
        size = sum(info.file_size for info in archive.infolist())
        if size > limit:
            _too_large(findings, size, limit)
            return None
        errors = _error_cells(archive)
    workbook = python_calamine.CalamineWorkbook.from_path(str(path))
    sheets = {}
    for name in workbook.sheet_names:
        cells = workbook.get_sheet_by_name(name).to_python(skip_empty_area=False)
        sheets[name] = _sheet_from_cells(name, cells, errors.get(name, {}))
    return sheets


def _sheet_from_cells(name: str, cells: list[list], errors: dict[tuple[int, int], str]) -> SheetData:
    grid = pd.DataFrame(cells, dtype=object) if cells else pd.DataFrame(dtype=object)
    for (r, c), text in errors.items():
        if r < grid.shape[0] and c < grid.shape[1]:
            grid.iat[r, c] = text
    if grid.empty:
        return SheetData(name, pd.DataFrame({ROW: pd.Series(dtype="int64")}))
    filled = grid.map(lambda v: v is not None and v != "").to_numpy()
    non_empty_rows = np.flatnonzero(filled.any(axis=1))
    if non_empty_rows.size == 0:
        return SheetData(name, pd.DataFrame({ROW: pd.Series(dtype="int64")}))
    header_row = int(non_empty_rows[0])
    header = grid.iloc[header_row]
    keep = [c for c in grid.columns if str(header[c] if header[c] is not None else "").strip()]
    body = grid.iloc[header_row + 1 :, keep]
    headers = [str(header[c]).strip() for c in keep]
    frame = pd.DataFrame(body.to_numpy(), columns=_dedupe(headers))
    frame[ROW] = np.arange(header_row + 2, header_row + 2 + len(frame))
    letters = dict(zip(frame.columns[:-1], (excel_letter(int(c)) for c in keep)))
    return SheetData(name, frame, letters)


def _dedupe(headers: list[str]) -> list[str]:
    """Keep duplicate headers apart (the validator reports them) without losing either."""
    seen: dict[str, int] = {}
    out = []
    for h in headers:
        seen[h] = seen.get(h, 0) + 1
        out.append(h if seen[h] == 1 else f"{h}\x00{seen[h]}")
    return out


# --- CSV (ZIP or folder) ----------------------------------------------------


def _csv_sheet(name: str, data: bytes, findings: Findings) -> SheetData:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if not data.strip():
        return SheetData(name, pd.DataFrame({ROW: pd.Series(dtype="int64")}))
    try:
        text_check = data.decode("utf-8")
    except UnicodeDecodeError:
        findings.add(
            "FILE-CSV-ENCODING", "error", "the CSV file is not UTF-8: save it as 'CSV UTF-8 (Comma delimited)'", table=_stem(name)
        )
        return SheetData(name, pd.DataFrame({ROW: pd.Series(dtype="int64")}), unreadable=True)
    first_line = _FIRST_LINE.match(text_check).group()  # splitlines()[0], without splitting a file of garbage
    header = [h.strip() for h in next(csv.reader([first_line]))]
    names = _dedupe(header)
    skipped: list[int] = []  # ordinals of the non-blank lines the parser skipped
    bad_rows: list[int] = []  # of those, the ones to report

    def on_invalid(row):  # called for every broken line (each line of a file of garbage): keep it short
        number = row.number if row.number is not None else -1
        skipped.append(number)
        if row.text.strip(" \t\r"):  # a line of spaces is a blank row, not a broken one
            bad_rows.append(number)
        return "skip"

    table = pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, use_threads=False),
        parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid, newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names}, strings_can_be_null=False, quoted_strings_can_be_null=False
        ),
    )
    lines = _non_blank_lines(data)
    gone = np.asarray(skipped, dtype=np.int64)
    data_lines = np.delete(lines, np.concatenate(([0], gone[(gone > 0) & (gone <= len(lines))] - 1)))
    # values spanning several lines upset the count: then fall back to row order
    rows = data_lines if len(data_lines) == table.num_rows else np.arange(2, table.num_rows + 2)
    if ROW in table.column_names:  # a header spelt like the row column gives way to it, as it always has
        table = table.drop_columns([ROW])
    table = table.append_column(ROW, pa.array(rows, type=pa.int64()))
    if bad_rows:  # one call for every broken line: a file of garbage has one per line
        findings.add(
            "ROW-WRONG-FIELD-COUNT",
            "error",
            f"this line has a different number of values from the header ({len(header)}): check for stray commas",
            table=_stem(name),
            rows=_line_numbers(lines, bad_rows),
        )
    return SheetData(name, table)


_FIRST_LINE = re.compile("[^\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]*")  # what str.splitlines splits at


def _line_numbers(lines: np.ndarray, ordinals: list[int]) -> pd.Series:
    """The line numbers of the non-blank lines with these 1-based ordinals (missing when out of range)."""
    ordinals = np.asarray(ordinals, dtype=np.int64)
    known = (ordinals > 0) & (ordinals <= len(lines))
    numbers = pd.Series(pd.NA, index=range(len(ordinals)), dtype="Int64")
    numbers[known] = lines[ordinals[known] - 1]
    return numbers


def _non_blank_lines(data: bytes) -> np.ndarray:
    """1-based numbers of the lines that hold anything: the parser skips blank ones."""
    raw = np.frombuffer(data, dtype=np.uint8)
    starts = np.concatenate(([0], np.flatnonzero(raw == 10) + 1))
    ends = np.concatenate((starts[1:] - 1, [len(raw)]))
    lengths = ends - starts
    only_cr = (lengths == 1) & (raw[np.minimum(starts, len(raw) - 1)] == 13)
    return np.flatnonzero((lengths > 0) & ~only_cr) + 1


def _stem(name: str) -> str:
    return PurePosixPath(name).stem


def _read_zip(path: Path, limit: int, findings: Findings) -> dict[str, SheetData] | None:
    with zipfile.ZipFile(path) as archive:
        infos = [i for i in archive.infolist() if not i.is_dir()]
        unsafe = [i.filename for i in infos if _climbs_out(i.filename)]
        if unsafe:
            findings.add(
                "ZIP-UNSAFE-PATH",
                "error",
                "the ZIP holds a path that points outside its own folder (e.g. '../' or an absolute path); "
                "nothing was extracted: zip only the return's CSV files",
                values="; ".join(unsafe[:5]),
            )
            return None
        size = sum(i.file_size for i in infos)
        if size > limit:
            _too_large(findings, size, limit)
            return None
        members = [
            i for i in infos if i.filename.lower().endswith(".csv") and not _hidden(i.filename)
        ]
        if any(i.flag_bits & 0x1 for i in members):
            findings.add("ZIP-ENCRYPTED", "error", "the ZIP is password-protected: send it without a password")
            return None
        sheets = {}
        read_total = 0
        for info in members:
            with archive.open(info) as handle:
                data = handle.read(limit - read_total + 1)  # headers can lie about sizes
            read_total += len(data)
            if read_total > limit:
                _too_large(findings, read_total, limit)
                return None
            name = PurePosixPath(info.filename).name
            if name in sheets:
                findings.add("ZIP-DUPLICATE-FILE", "error", f"the ZIP holds two files named {name}: keep one", table=_stem(name))
                continue
            sheets[name] = _csv_sheet(name, data, findings)
    return {_stem(k): v for k, v in sheets.items()}


def _climbs_out(name: str) -> bool:
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return name.startswith(("/", "\\")) or ".." in parts or (len(name) > 1 and name[1] == ":")


def _hidden(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def _read_folder(path: Path, limit: int, findings: Findings) -> dict[str, SheetData] | None:
    # The folder's regular CSV files, never a link (the set its checksum and archive take), each
    # opened with O_NOFOLLOW: a file swapped for a link since it was listed raises OSError (unreadable).
    from orchestration.returns import landing

    files = landing.csv_members(path)
    size = sum(p.lstat().st_size for p in files)
    if size > limit:
        _too_large(findings, size, limit)
        return None
    sheets, read_total = {}, 0
    for p in files:
        with landing.open_no_follow(p) as handle:
            data = handle.read(limit - read_total + 1)  # a file can grow after it was measured
        read_total += len(data)
        if read_total > limit:
            _too_large(findings, read_total, limit)
            return None
        sheets[p.stem] = _csv_sheet(p.name, data, findings)
    return sheets
