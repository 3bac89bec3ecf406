"""The chart types of the report, each drawn as one inline SVG.

A chart gets its numbers as `Series` (published values, a withheld flag and the
published cell behind each point) and returns a `Drawn`: the SVG and its legend.
A withheld point is never drawn as 0: time series show a hatched strip for the
month, bars a hatched part or row, and the legend says what the hatching means.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from orchestration.report import fmt
from orchestration.report.svg import (
    HATCH, INK, MUTED, WIDTH, Bands, Linear, Plot, esc, month_axis, nice_ticks, num, open_svg, rect, text,
    title, cell_attrs, withheld_strip, x_value_axis, y_axis,
)

BENCH_WIDTH = 500  # benchmark charts sit two to a row

# Okabe & Ito's palette: told apart with every common colour-vision deficiency.
BLUE, SKY, ORANGE, YELLOW, VERMILLION, PURPLE, GREEN, GREY = (
    "#0072B2", "#56B4E9", "#E69F00", "#F0E442", "#D55E00", "#CC79A7", "#009E73", "#8c8c8c",
)


@dataclass
class Series:
    name: str
    colour: str
    values: np.ndarray  # float; NaN where there is nothing to draw
    withheld: np.ndarray  # bool, same length
    cells: list  # per point: a cell id, a tuple of cell ids (a sum of published cells), or None
    kind: str = "count"
    sign: int = 1  # -1 stacks below zero
    dash: str = ""  # stroke-dasharray of a line
    partial: np.ndarray | None = None  # True where the value adds up published parts only (others withheld)

    def tip(self, label: str, i: int) -> str:
        text_ = f"{label} · {self.name}: {fmt.show(self.values[i], self.kind, bool(self.withheld[i]))}"
        if self.partial is not None and self.partial[i]:
            text_ += " (the categories published; the others are withheld)"
        return text_


@dataclass
class Drawn:
    svg: str
    legend: list[tuple[str, str, str]] = field(default_factory=list)  # (label, colour, style: box | line | dash | dot | withheld)
    has_withheld: bool = False


def _legend(series: list[Series], style: str) -> list[tuple[str, str, str]]:
    return [(s.name, s.colour, "dash" if style == "line" and s.dash else style) for s in series]


# --- stacked columns over months ----------------------------------------------------------------


def columns(
    periods: list[pd.Timestamp], series: list[Series], *, kind: str, unit: str, label: str,
    band: np.ndarray | None = None, band_tips: list[str] | None = None, height: int = 320,
) -> Drawn:
    """Stacked columns, one per month; series with sign -1 stack below zero.

    `band` (hatched, on top of the positive stack) is the part of a published total
    whose categories are withheld; a month whose every figure is withheld gets a
    hatched strip instead of a column.
    """
    n = len(periods)
    plot = Plot(WIDTH, height, left=64, right=16, top=30, bottom=46)
    values = [np.nan_to_num(s.values.astype(float), nan=0.0) for s in series]
    up = sum((v for v, s in zip(values, series) if s.sign > 0), np.zeros(n))
    down = sum((v for v, s in zip(values, series) if s.sign < 0), np.zeros(n))
    extra = np.nan_to_num(band, nan=0.0) if band is not None else np.zeros(n)
    ticks = nice_ticks(-float(down.max(initial=0.0)), float((up + extra).max(initial=0.0)) or 1.0, whole=kind == "count")
    y = Linear(ticks[0], ticks[-1], plot.y0, plot.y1)
    bands = Bands(n, plot.x0, plot.x1)
    out = [open_svg(WIDTH, height, label), y_axis(y, ticks, kind, plot, unit)]
    has_withheld = False
    everything_withheld = np.all([s.withheld | np.isnan(s.values) for s in series], axis=0) & np.any(
        [s.withheld for s in series], axis=0
    )
    for i in np.flatnonzero(everything_withheld):
        out.append(withheld_strip(bands.start(i), bands.width, plot, f"{fmt.month(periods[i])}: withheld"))
        has_withheld = True
    base_up, base_down = np.zeros(n), np.zeros(n)
    for s, v in zip(series, values):
        for i in np.flatnonzero(v > 0):
            month = fmt.month(periods[i])
            if s.sign > 0:
                top, bottom = base_up[i] + v[i], base_up[i]
            else:
                top, bottom = -base_down[i], -(base_down[i] + v[i])
            y_top, y_bottom = float(y(top)), float(y(bottom))
            out.append(rect(bands.start(i), y_top, bands.width, y_bottom - y_top, s.colour, s.tip(month, i), s.cells[i],
                            extra=' stroke="#ffffff" stroke-width="0.6"'))
        if s.sign > 0:
            base_up += v
        else:
            base_down += v
        has_withheld |= bool(s.withheld.any())
    if band is not None:
        for i in np.flatnonzero(extra > 0):
            y_top, y_bottom = float(y(base_up[i] + extra[i])), float(y(base_up[i]))
            out.append(rect(bands.start(i), y_top, bands.width, y_bottom - y_top, HATCH,
                            band_tips[i] if band_tips else "withheld", None, "mark withheld",
                            ' stroke="#6b7280" stroke-width="0.6"'))
    out.append(month_axis(bands, periods, plot))
    out.append("</svg>")
    legend = _legend(series, "box")
    return Drawn("".join(out), legend, has_withheld)


# --- lines over months --------------------------------------------------------------------------


def lines(
    periods: list[pd.Timestamp], series: list[Series], *, kind: str, unit: str, label: str,
    floor_zero: bool = True, ceiling: float | None = None, height: int = 280,
) -> Drawn:
    """One line per series, broken where a figure is missing; a withheld month is a hatched strip."""
    n = len(periods)
    plot = Plot(WIDTH, height, left=64, right=78, top=30, bottom=46)
    finite = np.concatenate([s.values[np.isfinite(s.values)] for s in series] or [np.array([])])
    lo = 0.0 if floor_zero or finite.size == 0 else float(finite.min())
    hi = float(finite.max()) if finite.size else 1.0
    if ceiling is not None:
        hi = max(hi, ceiling)
    ticks = nice_ticks(min(lo, 0.0) if floor_zero else lo, hi, whole=kind == "count")
    y = Linear(ticks[0], ticks[-1], plot.y0, plot.y1)
    bands = Bands(n, plot.x0, plot.x1, inner=1.0)
    out = [open_svg(WIDTH, height, label), y_axis(y, ticks, kind, plot, unit)]
    withheld_any = np.any([s.withheld for s in series], axis=0) if series else np.zeros(n, bool)
    for i in np.flatnonzero(withheld_any):
        names = ", ".join(s.name for s in series if s.withheld[i])
        out.append(withheld_strip(bands.start(i), bands.width, plot, f"{fmt.month(periods[i])} · {names}: withheld"))
    x = bands.centre(np.arange(n))
    ends = []
    for s in series:
        ys = y(np.where(np.isfinite(s.values), s.values, 0.0))
        ok = np.isfinite(s.values) & ~s.withheld
        runs, current = [], []
        for i in range(n):
            if ok[i]:
                current.append(f"{num(x[i])},{num(ys[i])}")
            elif current:
                runs.append(current)
                current = []
        if current:
            runs.append(current)
        dash = f' stroke-dasharray="{s.dash}"' if s.dash else ""
        for run in runs:
            if len(run) > 1:
                out.append(f'<polyline class="line" points="{" ".join(run)}" fill="none" stroke="{s.colour}" stroke-width="2.4"{dash}/>')
        radius = 3.2 if n <= 40 else 2.2
        for i in np.flatnonzero(ok):
            out.append(
                f'<circle class="mark" cx="{num(x[i])}" cy="{num(ys[i])}" r="{radius}" fill="{s.colour}" stroke="#ffffff" '
                f'stroke-width="1">{title(s.tip(fmt.month(periods[i]), i), cell_attrs(s.cells[i]))}</circle>'
            )
        last = np.flatnonzero(ok)
        if last.size:
            i = int(last[-1])
            ends.append([float(ys[i]), s, i])
    # Each line's last published value, next to its last point, nudged apart so labels never overlap.
    ends.sort(key=lambda e: e[0])
    for k in range(1, len(ends)):
        ends[k][0] = max(ends[k][0], ends[k - 1][0] + 15)
    for y_label, s, i in ends:
        out.append(text(float(x[i]) + 8, y_label + 4, fmt.show(s.values[i], s.kind), "end-label halo", cell=s.cells[i],
                        extra=f' fill="{s.colour}"'))
    out.append(month_axis(bands, periods, plot))
    out.append("</svg>")
    return Drawn("".join(out), _legend(series, "line"), bool(withheld_any.any()))


# --- horizontal bars by category ----------------------------------------------------------------


def hbars(
    categories: list[str], series: list[Series], *, kind: str, unit: str, label: str,
    remainder: np.ndarray | None = None, remainder_tips: list[str] | None = None,
    row_withheld: np.ndarray | None = None, end_labels: list[tuple[str, object]] | None = None,
    end_title: str = "",
) -> Drawn:
    """Horizontal stacked bars, one per category.

    `remainder` (hatched) is the part of a published total whose parts are withheld;
    a category whose total is withheld (`row_withheld`) is a hatched row reading "withheld".
    `end_labels` are (text, cell) printed at the right of each bar.
    """
    n = len(categories)
    row_h = 30
    plot = Plot(WIDTH, 44 + n * row_h + 44, left=210, right=96, top=40, bottom=44)
    values = [np.nan_to_num(s.values.astype(float), nan=0.0) for s in series]
    totals = sum(values, np.zeros(n)) + (np.nan_to_num(remainder, nan=0.0) if remainder is not None else 0)
    ticks = nice_ticks(0.0, float(totals.max(initial=0.0)) or 1.0, whole=kind == "count")
    xs = Linear(ticks[0], ticks[-1], plot.x0, plot.x1)
    rows = Bands(n, plot.y1, plot.y0, inner=0.66)
    out = [open_svg(WIDTH, plot.height, label), x_value_axis(xs, ticks, kind, plot, unit)]
    base = np.zeros(n)
    has_withheld = False
    for s, v in zip(series, values):
        for i in np.flatnonzero(v > 0):
            x0, x1 = float(xs(base[i])), float(xs(base[i] + v[i]))
            out.append(rect(x0, rows.start(i), x1 - x0, rows.width, s.colour, s.tip(categories[i], i), s.cells[i],
                            extra=' stroke="#ffffff" stroke-width="0.6"'))
        base += v
        has_withheld |= bool(s.withheld.any())
    if remainder is not None:
        rem = np.nan_to_num(remainder, nan=0.0)
        for i in np.flatnonzero(rem > 0):
            x0, x1 = float(xs(base[i])), float(xs(base[i] + rem[i]))
            out.append(rect(x0, rows.start(i), x1 - x0, rows.width, HATCH,
                            remainder_tips[i] if remainder_tips else "withheld", None, "mark withheld",
                            ' stroke="#6b7280" stroke-width="0.6"'))
    for i in range(n):
        yc = float(rows.centre(i))
        out.append(text(plot.x0 - 8, yc + 4, categories[i], "cat", "end"))
        if row_withheld is not None and row_withheld[i]:
            # No bar: any length would suggest a number. A hatched square and the word instead.
            out.append(rect(plot.x0 + 6, yc - 7, 14, 14, HATCH, f"{categories[i]}: withheld", None, "mark withheld",
                            ' stroke="#6b7280" stroke-width="0.8"'))
            out.append(text(plot.x0 + 26, yc + 4, "withheld", "label muted"))
            has_withheld = True
        if end_labels:
            shown, cell = end_labels[i]
            out.append(text(plot.x1 + 10, yc + 4, shown, "end-label", cell=cell))
    if end_title:
        out.append(text(plot.x1 + 10, plot.y1 - 14, end_title, "unit"))
    out.append("</svg>")
    return Drawn("".join(out), _legend(series, "box"), has_withheld)


def funnel(stages: list[tuple[str, float, object]], rates: list[tuple[str, str, object]], *, label: str, unit: str) -> Drawn:
    """The recruitment funnel: one bar per stage, and between two stages the rate from one to the next.

    `stages` are (name, value, cell); `rates` are (words, text, cell) for each step.
    """
    n = len(stages)
    row_h, gap = 34, 26
    height = 40 + n * row_h + (n - 1) * gap + 50
    plot = Plot(WIDTH, height, left=190, right=70, top=34, bottom=50)
    top_value = max((v for _, v, _ in stages if v == v), default=1.0) or 1.0
    ticks = nice_ticks(0.0, float(top_value), whole=True)
    xs = Linear(ticks[0], ticks[-1], plot.x0, plot.x1)
    out = [open_svg(WIDTH, height, label), x_value_axis(xs, ticks, "count", plot, unit)]
    colours = [SKY, SKY, BLUE, BLUE]
    for k, (name, value, cell) in enumerate(stages):
        y0 = plot.y1 + k * (row_h + gap)
        width = float(xs(value if value == value else 0)) - plot.x0
        out.append(rect(plot.x0, y0, width, row_h, colours[min(k, 3)], f"{name}: {fmt.show(value, 'count')}", cell))
        out.append(text(plot.x0 - 8, y0 + row_h / 2 + 5, name, "cat", "end"))
        out.append(text(plot.x0 + width + 8, y0 + row_h / 2 + 5, fmt.show(value, "count"), "end-label", cell=cell))
        if k < len(rates):
            words, shown, rate_cell = rates[k]
            ya = y0 + row_h + gap / 2 + 5
            out.append(f'<text class="rate" x="{num(plot.x0 + 10)}" y="{num(ya)}">↓ <tspan{cell_attrs(rate_cell)} '
                       f'class="rate-value">{esc(shown)}</tspan> {esc(words)}</text>')
    out.append("</svg>")
    return Drawn("".join(out), [], False)


def paired_bars(
    categories: list[str], first: Series, second: Series, *, kind: str, unit: str, label: str,
    end_labels: list[tuple[str, object]], end_title: str,
) -> Drawn:
    """Two bars per category (e.g. budget and actual), with a figure at the right of each pair."""
    n = len(categories)
    row_h = 44
    plot = Plot(WIDTH, 40 + n * row_h + 50, left=250, right=110, top=40, bottom=50)
    a = np.nan_to_num(first.values.astype(float), nan=0.0)
    b = np.nan_to_num(second.values.astype(float), nan=0.0)
    ticks = nice_ticks(min(0.0, float(min(a.min(initial=0), b.min(initial=0)))), float(max(a.max(initial=0), b.max(initial=0))) or 1.0, 4)
    xs = Linear(ticks[0], ticks[-1], plot.x0, plot.x1)
    rows = Bands(n, plot.y1, plot.y0, inner=0.8)
    out = [open_svg(WIDTH, plot.height, label), x_value_axis(xs, ticks, kind, plot, unit)]
    half = rows.width / 2
    zero = float(xs(0.0))
    for i in range(n):
        y0 = float(rows.start(i))
        for k, (s, v) in enumerate(((first, a), (second, b))):
            if np.isfinite(s.values[i]) and not s.withheld[i]:
                x0, x1 = sorted((zero, float(xs(v[i]))))
                out.append(rect(x0, y0 + k * half, x1 - x0, half - 2, s.colour, s.tip(categories[i], i), s.cells[i]))
        out.append(text(plot.x0 - 8, y0 + half + 4, categories[i], "cat", "end"))
        shown, cell = end_labels[i]
        out.append(text(plot.x1 + 10, y0 + half + 4, shown, "end-label", cell=cell))
    out.append(text(plot.x1 + 10, plot.y1 - 14, end_title, "unit"))
    out.append("</svg>")
    return Drawn("".join(out), _legend([first, second], "box"), False)


# --- one metric: authorities against their group's quartiles -----------------------------------


@dataclass
class BenchRow:
    name: str
    value: float
    withheld: bool
    cell: str
    rank_text: str
    rank_cell: str | None


def benchmark(rows: list[BenchRow], quartiles: dict | None, *, kind: str, unit: str, label: str) -> Drawn:
    """A dot per authority on the metric's scale, over the group's inter-quartile band, median and range.

    `quartiles` maps group_min, group_q1, group_median, group_q3, group_max to (value, cell);
    None when they are withheld (a member's value is withheld) or there are none.
    """
    n = len(rows)
    row_h = 34
    plot = Plot(BENCH_WIDTH, 30 + n * row_h + 48, left=128, right=96, top=30, bottom=48)
    shown = [r.value for r in rows if not r.withheld and np.isfinite(r.value)]
    if quartiles:
        shown += [v for v, _ in quartiles.values() if np.isfinite(v)]
    lo, hi = (min(shown), max(shown)) if shown else (0.0, 1.0)
    pad = (hi - lo) * 0.15 or abs(hi) * 0.1 or 1.0
    lo, hi = lo - pad, hi + pad
    if kind == "ratio":
        lo, hi = max(lo, 0.0), hi
    ticks = nice_ticks(lo, hi, 5)
    xs = Linear(ticks[0], ticks[-1], plot.x0, plot.x1)
    bands = Bands(n, plot.y1, plot.y0, inner=0.7)
    out = [open_svg(BENCH_WIDTH, plot.height, label), x_value_axis(xs, ticks, kind, plot, unit)]
    legend: list[tuple[str, str, str]] = []
    if quartiles:
        q1, q3 = float(xs(quartiles["group_q1"][0])), float(xs(quartiles["group_q3"][0]))
        out.append(rect(q1, plot.y1, q3 - q1, plot.y0 - plot.y1, "#dbe9f6", None, None, "band"))
        for key, dash, words in (("group_min", "3 3", "lowest"), ("group_max", "3 3", "highest"), ("group_median", "", "median")):
            xv = float(xs(quartiles[key][0]))
            width = 2.5 if key == "group_median" else 1.2
            out.append(f'<line x1="{num(xv)}" x2="{num(xv)}" y1="{num(plot.y1 - 4)}" y2="{num(plot.y0)}" stroke="{MUTED if dash else INK}" '
                       f'stroke-width="{width}"{f" stroke-dasharray={chr(34)}{dash}{chr(34)}" if dash else ""}/>')
        legend = [("middle half (quartiles)", "#dbe9f6", "box"), ("median", INK, "line"), ("lowest, highest", MUTED, "dash")]
    for i, r in enumerate(rows):
        yc = float(bands.centre(i))
        out.append(f'<line x1="{num(plot.x0)}" x2="{num(plot.x1)}" y1="{num(yc)}" y2="{num(yc)}" stroke="#eef1f4"/>')
        out.append(text(plot.x0 - 10, yc + 4, r.name, "cat", "end"))
        if r.withheld:
            out.append(rect(plot.x0, yc - 9, plot.x1 - plot.x0, 18, HATCH, f"{r.name}: withheld", None, "mark withheld", ' opacity="0.6"'))
            out.append(text(plot.x1 + 10, yc + 4, "withheld", "end-label muted", cell=r.cell))
            continue
        if not np.isfinite(r.value):
            out.append(text(plot.x1 + 10, yc + 4, fmt.MISSING_TEXT, "end-label muted", cell=r.cell))
            continue
        xv = float(xs(r.value))
        tip = f"{r.name}: {fmt.show(r.value, kind)}"
        out.append(f'<circle class="mark" cx="{num(xv)}" cy="{num(yc)}" r="7" fill="{BLUE}" stroke="#ffffff" stroke-width="1.5">'
                   f"{title(tip, cell_attrs(r.cell))}</circle>")
        out.append(text(plot.x1 + 10, yc + 4, fmt.show(r.value, kind), "end-label", cell=r.cell))
        if r.rank_cell:
            out.append(text(plot.x1 + 68, yc + 4, r.rank_text, "rank", "start", cell=r.rank_cell))
    out.append(text(plot.x1 + 10, plot.y1 - 12, "value", "unit"))
    out.append(text(plot.x1 + 68, plot.y1 - 12, "rank", "unit"))
    out.append("</svg>")
    return Drawn("".join(out), [("authority", BLUE, "dot"), *legend], any(r.withheld for r in rows))


# --- who has sent their returns -----------------------------------------------------------------

STATUS_STYLE = {  # status -> (fill, symbol, words)
    "accepted": (GREEN, "✓", "accepted"),
    "accepted_with_warnings": (ORANGE, "!", "accepted with warnings"),
    "rejected": (VERMILLION, "✕", "rejected"),
    "missing": ("#ffffff", "", "not received"),
}


def lateness(value) -> bool | None:
    """A published `late` value as True, False or None (unknown: null, NA or NaN)."""
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return None
    return bool(value)


def late_suffix(late: bool, unknown: bool) -> str:
    """", late", ", lateness unknown" or "" after a status's words."""
    return ", late" if late else ", lateness unknown" if unknown else ""


def lateness_words(value) -> str:
    """`late_suffix` of one published `late` value."""
    state = lateness(value)
    return late_suffix(state is True, state is None)


def late_and_unknown(late: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Of a published `late` column, where it is known late and where it is unknown (null), as booleans."""
    known = late.astype("boolean")
    return known.fillna(False).astype(bool), known.isna()


def status_grid(
    names: list[str], periods: list[pd.Timestamp], status: np.ndarray, late: np.ndarray, *, label: str,
    unknown: np.ndarray | None = None,
) -> Drawn:
    """One row per authority, one square per month: the return's status, a filled corner mark when late.

    `unknown` (optional, like `late`): where lateness is unknown (a return loaded in bulk after its
    due date and signed off in time), drawn as an open corner mark (two strokes, no fill), told
    apart from the late mark by its shape, not its colour, and in words in the tooltip.
    """
    unknown = np.zeros_like(late, dtype=bool) if unknown is None else unknown
    n_rows, n_cols = len(names), len(periods)
    plot = Plot(WIDTH, 40 + n_rows * 26 + 40, left=170, right=10, top=40, bottom=40)
    cols = Bands(n_cols, plot.x0, plot.x1, inner=0.86)
    rows = Bands(n_rows, plot.y1, plot.y0, inner=0.82)
    out = [open_svg(WIDTH, plot.height, label)]
    step = next(s for s in (1, 2, 3, 6, 12) if n_cols / s <= 12)
    for j in range(0, n_cols, step):
        out.append(text(float(cols.centre(j)), plot.y1 - 10, fmt.month_short(periods[j]), "tick period", "middle"))
    for i, name in enumerate(names):
        y0 = float(rows.start(i))
        out.append(text(plot.x0 - 8, y0 + rows.width / 2 + 4, name, "cat", "end"))
        for j in range(n_cols):
            fill, symbol, words = STATUS_STYLE.get(str(status[i, j]), ("#ffffff", "?", str(status[i, j])))
            x0 = float(cols.start(j))
            tip = f"{name}, {fmt.month(periods[j])}: {words}{late_suffix(late[i, j], unknown[i, j])}"
            out.append(rect(x0, y0, cols.width, rows.width, fill, tip, None, "mark", ' stroke="#9aa5b1" stroke-width="0.8"'))
            if symbol:
                out.append(text(x0 + cols.width / 2, y0 + rows.width / 2 + 4, symbol, "sym", "middle"))
            if late[i, j]:
                x1 = x0 + cols.width
                out.append(f'<path d="M{num(x1 - 7)},{num(y0)} L{num(x1)},{num(y0)} L{num(x1)},{num(y0 + 7)} Z" fill="{INK}" aria-hidden="true"/>')
            elif unknown[i, j]:
                x1 = x0 + cols.width
                out.append(f'<path class="unknown-mark" d="M{num(x1 - 8)},{num(y0 + 1)} L{num(x1 - 1)},{num(y0 + 1)} L{num(x1 - 1)},{num(y0 + 8)}" '
                           f'fill="none" stroke="{INK}" stroke-width="2" aria-hidden="true"/>')
    out.append(text(plot.x0, plot.y0 + 26, "Reporting month", "unit"))
    out.append("</svg>")
    legend = [(w, f, "box") for f, _, w in STATUS_STYLE.values()] + [("late (corner mark)", INK, "late")]
    if unknown.any():
        legend.append(("lateness unknown (open corner mark)", INK, "unknown"))
    return Drawn("".join(out), legend, False)
