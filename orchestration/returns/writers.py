"""Write a return, given its tables as DataFrames, in any of the three forms.

Used by the sample generator and by tests that build returns by hand. Columns
are written in contract order; extra columns in a frame are written too, so a
test can build a return that breaks the contract on purpose.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pandas as pd
import xlsxwriter

FORMS = ("xlsx", "zip", "folder")


def _csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False, date_format="%Y-%m-%d").encode("utf-8")


def write_return(tables: dict[str, pd.DataFrame], path: Path, form: str) -> Path:
    """Write `tables` to `path` as an XLSX workbook, a ZIP of CSVs or a folder of CSVs."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if form == "folder":
        path.mkdir(parents=True, exist_ok=True)
        for name, frame in tables.items():
            (path / f"{name}.csv").write_bytes(_csv_bytes(frame))
    elif form == "zip":
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, frame in tables.items():
                # A fixed timestamp keeps the bytes, and so the checksum, reproducible.
                info = zipfile.ZipInfo(f"{name}.csv", date_time=(2020, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, _csv_bytes(frame))
    elif form == "xlsx":
        _write_xlsx(tables, path)
    else:
        raise ValueError(f"unknown return form {form!r}; expected one of {FORMS}")
    return path


def _write_xlsx(tables: dict[str, pd.DataFrame], path: Path) -> None:
    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_numbers": False})
    workbook.set_properties({"created": pd.Timestamp("2020-01-01").to_pydatetime()})
    date_format = workbook.add_format({"num_format": "yyyy-mm-dd"})
    datetime_format = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    for name, frame in tables.items():
        sheet = workbook.add_worksheet(name)
        sheet.write_row(0, 0, list(frame.columns))
        for col_index, column in enumerate(frame.columns):
            values = frame[column]
            if pd.api.types.is_datetime64_any_dtype(values):
                has_time = (values.dropna().dt.normalize() != values.dropna()).any()
                fmt = datetime_format if has_time else date_format
                cells = [None if pd.isna(v) else v.to_pydatetime() for v in values]
                sheet.write_column(1, col_index, cells, fmt)
            else:
                cells = [None if (v is None or (isinstance(v, float) and pd.isna(v))) else v for v in values.tolist()]
                sheet.write_column(1, col_index, cells)
    workbook.close()
    path.write_bytes(buffer.getvalue())
