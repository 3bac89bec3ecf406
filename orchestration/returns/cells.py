"""Turn the cells of one column, as read, into typed values, column at a time.

Each parser takes the column as found (strings from CSV; strings, numbers and
dates from a workbook) and returns the typed column and a Series of what to say
about every cell it could not use (NaN where the cell is fine).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from orchestration.returns.schema import STORABLE_WHOLE_MAX

EXCEL_ERRORS = frozenset(
    {"#REF!", "#N/A", "#VALUE!", "#DIV/0!", "#NAME?", "#NULL!", "#NUM!", "#SPILL!", "#CALC!", "#FIELD!", "#GETTING_DATA", "#ERROR"}
)
EXCEL_EPOCH = pd.Timestamp("1899-12-30")
# Dates are parsed at microsecond resolution, which holds any year a cell can
# spell (to 9999), so an absurd date is reported by the range check in
# validation rather than overflowing here.
_PARSED = "datetime64[us]"
_THOUSANDS = r"-?\d{1,3}(,\d{3})+(\.\d+)?"


def kinds(series: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Masks of the cells that are text, numbers and dates."""
    inferred = pd.api.types.infer_dtype(series, skipna=True)
    if inferred in ("string", "empty"):  # every CSV column: no need to look cell by cell
        none = pd.Series(False, index=series.index)
        return (series.notna() if inferred == "string" else none), none, none
    types = series.map(type)
    is_text = types == str
    is_number = types.isin([int, float, np.int64, np.float64]) & series.notna()
    is_date = types.isin([dt.datetime, dt.date, pd.Timestamp])
    return is_text, is_number, is_date


def clean(series: pd.Series) -> pd.Series:
    """Strip text cells and make blank cells None."""
    series = series.astype(object)
    is_text, _, _ = kinds(series)
    if is_text.any():
        series = series.mask(is_text, series[is_text].str.strip())
    blank = series.isna() | is_text & (series == "")
    return series.mask(blank, None)


def _problems(index, mask: pd.Series, text: str) -> pd.Series:
    return pd.Series(np.where(mask.reindex(index, fill_value=False), text, None), index=index, dtype=object)


def as_text(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Text as written; a whole number typed into Excel reads as '123', not '123.0'."""
    is_text, is_number, is_date = kinds(series)
    out = pd.Series(None, index=series.index, dtype=object)
    out[is_text] = series[is_text]
    if is_number.any():
        numbers = pd.to_numeric(series[is_number])
        whole = (numbers % 1 == 0) & (numbers.abs() <= STORABLE_WHOLE_MAX)  # beyond, a float's digits are not exact
        out[numbers.index[whole]] = numbers[whole].astype("int64").astype(str)
        out[numbers.index[~whole]] = numbers[~whole].astype(str)
    if is_date.any():
        out[is_date] = pd.to_datetime(series[is_date]).dt.strftime("%Y-%m-%d")
    return out, _problems(series.index, pd.Series(False, index=series.index), "")


def as_number(series: pd.Series, *, money: bool) -> tuple[pd.Series, pd.Series]:
    """Numbers, accepting '1,234' (thousands) and, for money, a leading '£'."""
    is_text, is_number, _ = kinds(series)
    values = pd.Series(np.nan, index=series.index, dtype="float64")
    if is_number.any():
        values[is_number] = pd.to_numeric(series[is_number])
    if is_text.any():
        text = series[is_text]
        parsed = pd.to_numeric(text, errors="coerce")
        retry = parsed.isna()
        if retry.any():  # only the cells that did not parse plainly get the slower clean-up
            odd = text[retry]
            if money:
                odd = odd.str.replace(r"^(-?)\s*£\s*", r"\1", regex=True)
            thousands = odd.str.fullmatch(_THOUSANDS).fillna(False).astype(bool)
            odd = odd.mask(thousands, odd.str.replace(",", "", regex=False))
            parsed[retry] = pd.to_numeric(odd, errors="coerce")
        values[is_text] = parsed
    # 'inf', '-Infinity', '1e400' and NaN spelt out parse as floats, but are no amount or count:
    # they are reported as not a number, here, before anything tries to store them.
    values = values.where(np.isfinite(values))
    bad = series.notna() & values.isna()
    what = "an amount in pounds, e.g. 525.50 (no text)" if money else "a whole number, e.g. 12 (no text)"
    return values, _problems(series.index, bad, f"expected {what}")


def as_date(series: pd.Series, *, with_time: bool = False) -> tuple[pd.Series, pd.Series]:
    """ISO dates (YYYY-MM-DD, optionally with a time) and Excel date cells or serial numbers."""
    is_text, is_number, is_date = kinds(series)
    values = pd.Series(pd.NaT, index=series.index, dtype=_PARSED)
    if is_date.any():
        values[is_date] = pd.to_datetime(series[is_date]).astype(_PARSED)
    if is_number.any():
        serial = pd.to_numeric(series[is_number])
        ok = serial.between(1, 2958465)
        values[serial.index[ok]] = (EXCEL_EPOCH + pd.to_timedelta(serial[ok], unit="D")).astype(_PARSED)
    text = series[is_text]
    if len(text):
        plain = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce").astype(_PARSED)  # the usual case, fast
        values[text.index] = plain
        rest = text[plain.isna()]
        iso = rest.str.fullmatch(r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?").fillna(False).astype(bool)
        if iso.any():
            values[rest.index[iso]] = pd.to_datetime(rest[iso], format="ISO8601", errors="coerce").astype(_PARSED)
    if not with_time:
        values = values.dt.normalize()
    bad = series.notna() & values.isna()
    example = "a date as YYYY-MM-DD or YYYY-MM-DD HH:MM, e.g. 2023-10-05" if with_time else "a date as YYYY-MM-DD, e.g. 2023-09-30, or an Excel date"
    return values, _problems(series.index, bad, f"expected {example}")


def as_period(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """A month as YYYY-MM; a date (Excel turns '2023-09' into 1 Sep 2023) stands for its month."""
    is_text, _, is_date = kinds(series)
    values = pd.Series(pd.NaT, index=series.index, dtype=_PARSED)
    if is_date.any():
        values[is_date] = pd.to_datetime(series[is_date]).astype(_PARSED).dt.to_period("M").dt.to_timestamp()
    text = series[is_text]
    month = text.str.fullmatch(r"\d{4}-\d{2}(-\d{2})?")
    values[text.index[month]] = pd.to_datetime(text[month].str[:7], format="%Y-%m", errors="coerce").astype(_PARSED)
    bad = series.notna() & values.isna()
    return values, _problems(series.index, bad, "expected a month as YYYY-MM, e.g. 2023-09")


def as_code(series: pd.Series, codes: dict[str, str]) -> tuple[pd.Series, pd.Series]:
    """One of a closed list, matched regardless of case and given back as the list spells it."""
    text, _ = as_text(series)
    values = text.map({code: code for code in codes})
    other_case = values.isna() & text.notna()
    if other_case.any():
        values[other_case] = text[other_case].str.lower().map({code.lower(): code for code in codes})
    bad = text.notna() & values.isna()
    listed = ", ".join(codes) if len(codes) <= 12 else ", ".join(list(codes)[:12]) + ", ... (see the Guidance sheet)"
    return values.astype(object), _problems(series.index, bad, f"expected one of: {listed}")
