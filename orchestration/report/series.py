"""Turning published mart rows into chart series: values, withheld flags and cell references."""

from __future__ import annotations

import numpy as np
import pandas as pd

from orchestration.report.charts import Series
from orchestration.report.data import Mart

MAX_MONTHS = 36  # time series show the last three years


def recent(rows: pd.DataFrame, months: int = MAX_MONTHS) -> pd.DataFrame:
    """The rows of the last `months` months that have rows (sorted by period)."""
    rows = rows.sort_values("period")
    if rows.empty:
        return rows
    first = rows["period"].max() - pd.DateOffset(months=months - 1)
    return rows[rows["period"] >= first]


def _points(mart: Mart, rows: pd.DataFrame, column: str) -> pd.DataFrame:
    """One row per mart row: the published value (NaN when withheld), withheld, cell id."""
    held = mart.withheld(column, rows).to_numpy(dtype=bool)
    values = pd.to_numeric(rows[column], errors="coerce").astype("float64").to_numpy()
    ids = mart.ids(column, rows)
    return pd.DataFrame({"v": np.where(held, np.nan, values), "w": held, "id": ids}, index=rows.index)


def series(
    mart: Mart, rows: pd.DataFrame, column: str, *, name: str, colour: str, kind: str = "count",
    by: str = "period", order: list | None = None, **how,
) -> Series:
    """The published `column` of `rows` as a series, one point per `order` (default: the rows' own order)."""
    frame = _points(mart, rows, column)
    frame.index = rows[by].to_numpy()
    if order is not None:
        frame = frame.reindex(order)
    return Series(
        name=name, colour=colour, kind=kind,
        values=frame["v"].to_numpy(dtype=float),
        withheld=frame["w"].fillna(False).to_numpy(dtype=bool),
        cells=[c if isinstance(c, str) else None for c in frame["id"]],
        **how,
    )


def group_series(
    mart: Mart, rows: pd.DataFrame, columns: list[str], *, name: str, colour: str, order: list, by: str = "period",
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
