"""Turning published mart rows into chart series: values, withheld flags and cell references.

Rows come as `Rows` (positions into the mart's column arrays), and a series is
built from numpy arrays: a page draws some forty series, so building a DataFrame
for each one was most of the time a report took.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from orchestration.report.charts import Series
from orchestration.report.data import Mart, Rows

MAX_MONTHS = 36  # time series show the last three years


def recent(rows: Rows, months: int = MAX_MONTHS) -> Rows:
    """The rows of the last `months` months that have rows (sorted by period)."""
    rows = rows.sort_by_period()
    if rows.empty:
        return rows
    first = pd.Timestamp(rows.period.max()) - pd.DateOffset(months=months - 1)
    return rows.where(rows.period >= first.to_datetime64())


def _datetimes(periods: list) -> np.ndarray:
    """Timestamps as a datetime64[ns] array (cheaper than `pd.DatetimeIndex` for a few dozen months)."""
    return np.array([pd.Timestamp(p).value for p in periods], dtype=np.int64).view("datetime64[ns]")


def positions(rows: Rows, by: str, order: list) -> np.ndarray:
    """For each item of `order`, the position of the row whose `by` equals it; `len(rows)` where none does."""
    if by == "period":
        wanted = _datetimes(order)
        have = rows.period
        if len(have) == 0 or len(wanted) == 0:
            return np.full(len(wanted), len(have), dtype=np.intp)
        equal = have[None, :] == wanted[:, None]
        found = equal.any(axis=1)
        # the last match, as a dict from each row's value would keep (the rows never repeat a value)
        last = len(have) - 1 - np.argmax(equal[:, ::-1], axis=1)
        return np.where(found, last, len(have)).astype(np.intp)
    where = {key: k for k, key in enumerate(rows[by])}
    return np.array([where.get(key, len(rows)) for key in order], dtype=np.intp)


def series(
    mart: Mart, rows: Rows, column: str, *, name: str, colour: str, kind: str = "count",
    by: str = "period", order: list | None = None, **how,
) -> Series:
    """The published `column` of `rows` as a series, one point per `order` (default: the rows' own order).

    A point is the published value (NaN when withheld or missing), whether it is withheld,
    and its cell reference (None for an item of `order` without a row).
    """
    held = rows.withheld(column)
    values = np.where(held, np.nan, rows.floats(column))
    cells: list = rows.ids(column)
    if order is not None:
        at = positions(rows, by, order)
        values = np.append(values, np.nan)[at]
        held = np.append(held, False)[at]
        cells = [*cells, None]
        cells = [cells[k] for k in at]
    return Series(name=name, colour=colour, kind=kind, values=values.astype(float), withheld=held.astype(bool), cells=cells, **how)


def group_series(
    mart: Mart, rows: Rows, columns: list[str], *, name: str, colour: str, order: list, by: str = "period",
) -> tuple[Series, np.ndarray]:
    """The sum of the published parts among `columns`; withheld parts are left out (and flagged `partial`).

    Returns the series and, per point, whether any part was withheld.
    """
    parts = [series(mart, rows, c, name=c, colour=colour, by=by, order=order) for c in columns]
    values = np.vstack([p.values for p in parts])
    held = np.vstack([p.withheld for p in parts])
    published = np.isfinite(values) & ~held
    total = np.where(published, values, 0.0).sum(axis=0)
    total = np.where(published.any(axis=0), total, np.nan)
    cells = []
    for i in range(len(order)):
        ids = tuple(p.cells[i] for p, ok in zip(parts, published[:, i]) if ok and p.cells[i])
        cells.append(ids[0] if len(ids) == 1 else (ids or None))
    some_held = held.any(axis=0)
    out = Series(name=name, colour=colour, values=total, withheld=held.all(axis=0) & ~published.any(axis=0),
                 cells=cells, partial=some_held & published.any(axis=0))
    return out, some_held
