"""The HTML around the charts: the page, a chart's figure with its table, key figures.

Every page is one self-contained file: its styles and its small script are inline,
it loads nothing, and links only to the report's other pages by relative paths.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from orchestration.report import fmt
from orchestration.report.assets import CSS, SCRIPT
from orchestration.report.charts import Drawn
from orchestration.report.data import Mart, Rows
from orchestration.report.svg import HATCH_DEFS, cell_attrs, esc


@dataclass
class Cell:
    text: str
    cell: object = None  # a cell id, a tuple of cell ids (a sum), or None
    withheld: bool = False


@dataclass
class Table:
    head: list[str]  # the first is the row header's heading
    rows: list[tuple[str, list[Cell]]]


@dataclass
class Figure:
    key: str  # data-chart
    title: str  # plain words, its period and its source mart
    mart: str
    first: pd.Timestamp
    last: pd.Timestamp
    drawn: Drawn
    table: Table
    note_html: str = ""  # one plain sentence under the title (figures in it via `value`)
    extra_legend: list = field(default_factory=list)


def value(v, kind: str, withheld: bool, cell) -> str:
    """A published figure inside a sentence, traceable to its cell."""
    cls = "fig withheld" if withheld else "fig"
    return f'<span class="{cls}"{cell_attrs(cell)}>{esc(fmt.show(v, kind, withheld))}</span>'


def mart_table(mart: Mart, rows: Rows, columns: list[tuple[str, str, str]], row_labels, row_heading: str = "Month") -> Table:
    """A table of published cells: one row per mart row, `columns` as (column, heading, kind).

    `row_labels(rows)` gives each row's label (default use: its month).
    """
    per_column = []
    for column, _, kind in columns:
        held = rows.withheld(column)
        values = rows[column]
        ids = rows.ids(column)
        per_column.append([Cell(fmt.show(v, kind, h), i, h) for v, h, i in zip(values, held, ids)])
    labels = row_labels(rows)
    out = [(label, [col[k] for col in per_column]) for k, label in enumerate(labels)]
    return Table([row_heading, *[h for _, h, _ in columns]], out)


def months(rows: Rows) -> list[str]:
    """Row labels: each row's month."""
    return [fmt.month(p) for p in rows["period"]]


def _legend_html(figure: Figure, threshold: int) -> str:
    items = list(figure.drawn.legend) + list(figure.extra_legend)
    if figure.drawn.has_withheld:
        items.append((f"withheld (fewer than {threshold + 1} children)", "", "withheld"))
    if not items:
        return ""
    lis = []
    for label, colour, style in items:
        lis.append(f'<li><span class="swatch {style}" style="--c:{esc(colour)}" aria-hidden="true"></span>{esc(label)}</li>')
    return f'<ul class="legend" aria-label="Legend">{"".join(lis)}</ul>'


def _table_html(figure: Figure) -> str:
    head = "".join(f'<th scope="col">{esc(h)}</th>' for h in figure.table.head)
    body = []
    for label, cells in figure.table.rows:
        tds = "".join(
            f'<td class="{"withheld" if c.withheld else "num"}"{cell_attrs(c.cell)}>{esc(c.text)}</td>' for c in cells
        )
        body.append(f'<tr><th scope="row">{esc(label)}</th>{tds}</tr>')
    return (
        '<details class="table-view"><summary>Table</summary><div class="scroll">'
        f'<table><caption>{esc(figure.title)}</caption><thead><tr>{head}</tr></thead>'
        f'<tbody>{"".join(body)}</tbody></table></div></details>'
    )


def figure_html(figure: Figure, threshold: int) -> str:
    note = f'<p class="note">{figure.note_html}</p>' if figure.note_html else ""
    return (
        f'<figure class="chart" data-chart="{esc(figure.key)}" data-mart="{esc(figure.mart)}" '
        f'data-period-from="{figure.first:%Y-%m}" data-period-to="{figure.last:%Y-%m}">'
        f"<figcaption>{esc(figure.title)}</figcaption>{note}{_legend_html(figure, threshold)}"
        f'<div class="plot">{figure.drawn.svg}</div>{_table_html(figure)}</figure>'
    )


def key_figures(items: list[tuple[str, str, str]]) -> str:
    """Tiles of headline figures: (label, value html, when)."""
    tiles = "".join(
        f'<div class="tile"><div class="tile-label">{esc(label)}</div><div class="tile-value">{shown}</div>'
        f'<div class="tile-when">{esc(when)}</div></div>'
        for label, shown, when in items
    )
    return f'<section class="tiles" aria-label="Key figures">{tiles}</section>'


def page(*, title: str, heading: str, subheading: str, crumbs: list[tuple[str, str | None]], body: str, footer: str) -> str:
    nav = " › ".join(f'<a href="{esc(href)}">{esc(t)}</a>' if href else f'<span aria-current="page">{esc(t)}</span>' for t, href in crumbs)
    return (
        '<!doctype html><html lang="en-GB"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        '<a class="skip" href="#main">Skip to content</a>'
        f'<header class="masthead"><div class="wrap"><nav class="crumbs" aria-label="Breadcrumb">{nav}</nav>'
        f'<h1>{esc(heading)}</h1><p class="sub">{subheading}</p>'
        '<button type="button" class="toggle-tables" hidden>Show all tables</button></div></header>'
        f'{HATCH_DEFS}<main id="main" class="wrap">{body}</main>'
        f'<footer class="wrap foot">{footer}</footer><script>{SCRIPT}</script></body></html>'
    )


def section(heading: str, figures_html: list[str], intro: str = "", grid: bool = False) -> str:
    slug = "".join(ch if ch.isalnum() else "-" for ch in heading.lower()).strip("-")
    lead = f'<p class="lead">{intro}</p>' if intro else ""
    inner = f'<div class="grid2">{"".join(figures_html)}</div>' if grid else "".join(figures_html)
    return f'<section class="block" aria-labelledby="h-{slug}"><h2 id="h-{slug}">{esc(heading)}</h2>{lead}{inner}</section>'


def footer(threshold: int, source: str) -> str:
    """What every page says at the bottom: where its figures come from (`source`, a sentence), and what "withheld" means."""
    return (
        f"{source} "
        f"Withheld: counts of 1 to {threshold} children, every figure computed from one, and the smallest other part of a total "
        "that would let a withheld count be worked out by subtraction. Withheld figures read “withheld”; "
        "“–” means there is no figure (nothing to compute it from)."
    )


def page_source(when: str) -> str:
    """The footer's first sentence on a hub or LA page: the month of its figures, and the overview, which names the publish.

    A hub or LA page names nothing that changes with every publish (its version or time), so
    a page whose figures did not change is the same file from one version to the next (carried).
    """
    return (
        f"Figures to {esc(when)}, from the published marts, files that are already disclosure-controlled. "
        'The <a href="../index.html">overview</a> names the publish this report was built from and when it was made.'
    )
