"""SVG building blocks: scales, ticks, axes and marks, written as strings.

Charts are drawn server-side into inline SVG, so a page needs no script to show
them and no network to load one. Every mark that shows a published figure carries
a `<title>` (the tooltip) naming it, with `data-cell` (one published cell) or
`data-sum` (published cells added up) so the tests can check it against the files.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from orchestration.report import fmt

WIDTH = 1000
HATCH = "url(#withheld-hatch)"
INK, MUTED, GRID = "#1f2933", "#52606d", "#d9dee3"

# One definition per page (layout.page puts it in a hidden <svg>).
HATCH_DEFS = (
    '<svg class="defs" width="0" height="0" aria-hidden="true" focusable="false"><defs>'
    '<pattern id="withheld-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
    '<rect width="6" height="6" fill="#ffffff"/><line x1="0" y1="0" x2="0" y2="6" stroke="#6b7280" stroke-width="2.2"/>'
    "</pattern></defs></svg>"
)


def esc(text) -> str:
    """`html.escape(str(text), quote=True)`; most texts have nothing to escape, so they are returned as they are."""
    text = str(text)
    if "&" in text or "<" in text or ">" in text or '"' in text or "'" in text:
        return html.escape(text, quote=True)
    return text


def num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".") if value == value else "0"


@dataclass(frozen=True)
class Plot:
    """The plotting area inside a chart of `width` x `height`."""

    width: float
    height: float
    left: float
    right: float
    top: float
    bottom: float

    @property
    def x0(self) -> float:
        return self.left

    @property
    def x1(self) -> float:
        return self.width - self.right

    @property
    def y0(self) -> float:  # the bottom of the plot
        return self.height - self.bottom

    @property
    def y1(self) -> float:
        return self.top


@dataclass(frozen=True)
class Linear:
    d0: float
    d1: float
    r0: float
    r1: float

    def __call__(self, value):
        span = (self.d1 - self.d0) or 1.0
        if isinstance(value, (float, int, np.number)):  # one point: plain floats, the same arithmetic, no array
            return self.r0 + (float(value) - self.d0) / span * (self.r1 - self.r0)
        return self.r0 + (np.asarray(value, dtype=float) - self.d0) / span * (self.r1 - self.r0)


@dataclass(frozen=True)
class Bands:
    """n equal bands from r0 to r1; `inner` is the share of a band a column fills."""

    n: int
    r0: float
    r1: float
    inner: float = 0.72

    @cached_property  # asked for once per mark drawn
    def step(self) -> float:
        return (self.r1 - self.r0) / max(self.n, 1)

    @cached_property
    def width(self) -> float:
        return self.step * self.inner

    def start(self, i) -> np.ndarray:
        if isinstance(i, (int, np.integer)):  # one band: plain floats, the same arithmetic, no array
            return self.r0 + float(i) * self.step + (self.step - self.width) / 2
        return self.r0 + np.asarray(i, dtype=float) * self.step + (self.step - self.width) / 2

    def centre(self, i) -> np.ndarray:
        if isinstance(i, (int, np.integer)):
            return self.r0 + (float(i) + 0.5) * self.step
        return self.r0 + (np.asarray(i, dtype=float) + 0.5) * self.step


def nice_ticks(lo: float, hi: float, count: int = 5, whole: bool = False) -> list[float]:
    """Round tick values covering lo..hi (whole numbers only with `whole`, e.g. for counts)."""
    if not np.isfinite(lo) or not np.isfinite(hi):
        lo, hi = 0.0, 1.0
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    steps = (1, 2, 5, 10) if whole else (1, 2, 2.5, 5, 10)
    step = next(m * power for m in steps if m * power >= raw)
    if whole:
        step = max(1.0, float(round(step)))
    first = math.floor(lo / step + 1e-9) * step
    last = math.ceil(hi / step - 1e-9) * step
    n = int(round((last - first) / step))
    return [round(first + i * step, 10) for i in range(n + 1)]


def title(text: str, attrs: str = "") -> str:
    return f"<title{attrs}>{esc(text)}</title>"


def cell_attrs(cell) -> str:
    """data-cell="id" for one published cell, data-sum="id id" for a sum of published cells."""
    if cell is None:
        return ""
    if isinstance(cell, (tuple, list)):
        return f' data-sum="{esc(" ".join(cell))}"'
    return f' data-cell="{esc(cell)}"'


def open_svg(width: float, height: float, label: str) -> str:
    return (
        f'<svg viewBox="0 0 {num(width)} {num(height)}" width="{num(width)}" height="{num(height)}" '
        f'role="img" aria-label="{esc(label)}" preserveAspectRatio="xMinYMin meet">'
    )


def y_axis(scale: Linear, ticks: list[float], kind: str, plot: Plot, unit: str) -> str:
    """Horizontal grid lines with their labels, and the unit above the axis."""
    out = []
    for t in ticks:
        y = float(scale(t))
        stroke = INK if abs(t) < 1e-12 else GRID
        out.append(f'<line x1="{num(plot.x0)}" x2="{num(plot.x1)}" y1="{num(y)}" y2="{num(y)}" stroke="{stroke}" stroke-width="1"/>')
        out.append(f'<text class="tick" x="{num(plot.x0 - 6)}" y="{num(y + 4)}" text-anchor="end">{esc(fmt.tick(t, kind))}</text>')
    out.append(f'<text class="unit" x="{num(plot.x0 - 6)}" y="{num(plot.y1 - 12)}" text-anchor="start">{esc(unit)}</text>')
    return "".join(out)


def x_value_axis(scale: Linear, ticks: list[float], kind: str, plot: Plot, unit: str) -> str:
    """Vertical grid lines with labels below, and the unit under them (horizontal charts)."""
    out = []
    for t in ticks:
        x = float(scale(t))
        stroke = INK if abs(t) < 1e-12 else GRID
        out.append(f'<line x1="{num(x)}" x2="{num(x)}" y1="{num(plot.y1)}" y2="{num(plot.y0)}" stroke="{stroke}" stroke-width="1"/>')
        out.append(f'<text class="tick" x="{num(x)}" y="{num(plot.y0 + 16)}" text-anchor="middle">{esc(fmt.tick(t, kind))}</text>')
    out.append(f'<text class="unit" x="{num((plot.x0 + plot.x1) / 2)}" y="{num(plot.y0 + 34)}" text-anchor="middle">{esc(unit)}</text>')
    return "".join(out)


def month_axis(bands: Bands, periods: list[pd.Timestamp], plot: Plot) -> str:
    """Month labels under the plot: every month, or every 2, 3, 6 or 12 when there are many."""
    n = len(periods)
    step = next(s for s in (1, 2, 3, 6, 12, 24) if n / s <= 10)
    out = [f'<line x1="{num(plot.x0)}" x2="{num(plot.x1)}" y1="{num(plot.y0)}" y2="{num(plot.y0)}" stroke="{INK}"/>']
    for i in range(0, n, step):
        x = float(bands.centre(i))
        out.append(f'<line x1="{num(x)}" x2="{num(x)}" y1="{num(plot.y0)}" y2="{num(plot.y0 + 4)}" stroke="{INK}"/>')
        out.append(f'<text class="tick period" x="{num(x)}" y="{num(plot.y0 + 17)}" text-anchor="middle">{esc(fmt.month(periods[i]))}</text>')
    out.append(
        f'<text class="unit" x="{num((plot.x0 + plot.x1) / 2)}" y="{num(plot.y0 + 36)}" text-anchor="middle">'
        "Reporting month (figures at month end)</text>"
    )
    return "".join(out)


def rect(x, y, w, h, fill: str, tip: str | None = None, cell=None, cls: str = "mark", extra: str = "") -> str:
    inner = title(tip, cell_attrs(cell)) if tip else ""
    return (
        f'<rect class="{cls}" x="{num(x)}" y="{num(y)}" width="{num(max(w, 0))}" height="{num(max(h, 0))}" '
        f'fill="{fill}"{extra}>{inner}</rect>'
    )


def withheld_strip(x, w, plot: Plot, tip: str) -> str:
    """A full-height hatched strip: a figure here is withheld (never drawn as 0)."""
    return rect(x, plot.y1, w, plot.y0 - plot.y1, HATCH, tip, None, "mark withheld", ' opacity="0.55"')


def text(x, y, content: str, cls: str = "label", anchor: str = "start", cell=None, extra: str = "") -> str:
    return (
        f'<text class="{cls}" x="{num(x)}" y="{num(y)}" text-anchor="{anchor}"{cell_attrs(cell)}{extra}>'
        f"{esc(content)}</text>"
    )
