"""One page per hub: every metric of mart_benchmark, its authorities against the hub's quartiles.

The page is drawn from the hub's rows of mart_benchmark (group_type "hub") and its
authorities only (`inputs.PageData`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from orchestration.report import fmt
from orchestration.report.charts import BenchRow, benchmark
from orchestration.report.data import Authority, Rows
from orchestration.report.layout import Cell, Figure, Table, figure_html, footer, page, page_source, section
from orchestration.report.svg import esc

if TYPE_CHECKING:
    from orchestration.report.inputs import PageData

# The marts a hub's page reads (only the rows of its hub's group): what its inputs, and so its digest, cover.
MARTS = ("mart_benchmark",)

# metric -> (plain words, kind, axis unit); in the spec's order. A metric not listed still gets a chart.
METRICS = {
    "inhouse_fostering_share": ("Fostered children with in-house or family and friends carers", "ratio", "Share of fostered children (%)"),
    "place_utilisation": ("Available in-house foster places that are filled", "ratio", "Share of available places (%)"),
    "in_area_share": ("Children looked after placed inside the council's area", "ratio", "Share of children looked after (%)"),
    "moves_3plus_12m_share": ("Children looked after with three or more placements in a year", "ratio", "Share of children looked after (%)"),
    "r12_conversion_rate": ("Enquiries that became approved mainstream households, over a year", "ratio", "Approvals per enquiry (%)"),
    "r12_deregistration_rate": ("Mainstream households leaving, over a year", "ratio", "Households leaving per household held (%)"),
    "r12_inhouse_weekly_cost": ("In-house fostering weekly cost per child, with overheads, over a year", "money", "£ per child per week"),
    "r12_ifa_weekly_cost": ("Independent agency fostering weekly cost per child, over a year", "money", "£ per child per week"),
    "cla_rate_per_10k": ("Children looked after per ten thousand children", "rate", "Children looked after per ten thousand children"),
}
BETTER = {"higher": "Higher is better", "lower": "Lower is better"}
STATS = [("group_min", "Lowest"), ("group_q1", "Lower quartile"), ("group_median", "Median"), ("group_q3", "Upper quartile"),
         ("group_max", "Highest")]


def _ordered(rows: Rows, better: str) -> Rows:
    """Best first (by rank where published, else by value in the better direction); withheld and missing last.

    A stable sort on (missing, rank, value key, name), missing ranks, keys and names last:
    the order `DataFrame.sort_values` gave, without building a DataFrame per chart.
    """
    values = rows.floats("value")
    keys = -values if better in ("higher", "none") else values
    ranks = rows.floats("rank")  # all missing: every rank ties (inf), so the order is by key then name
    names = rows["la_name"]

    def sort_key(k: int):
        rank, key, name = ranks[k], keys[k], names[k]
        no_name = fmt.is_missing(name)
        return (bool(np.isnan(values[k])), np.inf if np.isnan(rank) else float(rank),
                bool(np.isnan(key)), 0.0 if np.isnan(key) else float(key), no_name, "" if no_name else str(name))

    return rows.take(sorted(range(len(rows)), key=sort_key))


def metric_figure(publish: PageData, hub: str, metric: str, rows: Rows) -> Figure:
    """One metric's chart: the hub's authorities (`rows`, one month) against the hub's quartiles."""
    mart = publish.mart("mart_benchmark")
    words, kind, unit = METRICS.get(metric, (metric.replace("_", " ").capitalize(), "number", "Value"))
    better = str(rows.first("better")) if "better" in mart.columns and pd.notna(rows["better"]).any() else "none"
    rows = _ordered(rows, better)
    period = rows.first("period")
    held = {c: rows.withheld(c) for c in ("value", "rank", *[s for s, _ in STATS])}
    names, values, ranks = rows["la_name"], rows["value"], rows["rank"]
    value_ids, rank_ids = rows.ids("value"), rows.ids("rank")
    bench_rows = []
    for k in range(len(rows)):
        has_rank = not held["rank"][k] and not fmt.is_missing(ranks[k])
        bench_rows.append(BenchRow(
            name=names[k], value=float(values[k]) if not fmt.is_missing(values[k]) else float("nan"),
            withheld=bool(held["value"][k]), cell=value_ids[k],
            rank_text=fmt.show(ranks[k], "count") if has_rank else "", rank_cell=rank_ids[k] if has_rank else None,
        ))
    stats_held = bool(np.any([held[s] for s, _ in STATS]))
    first = {s: (rows.first(s), rows.ids(s)[0]) for s, _ in STATS}  # the hub's figures, the same in every row
    quartiles = None
    if not stats_held and all(not fmt.is_missing(first[s][0]) for s, _ in STATS):
        quartiles = {s: (float(first[s][0]), first[s][1]) for s, _ in STATS}
    direction = BETTER.get(better, "Context only: neither higher nor lower is better")
    title = f"{words}, {fmt.month(period)} ({mart.name})"
    drawn = benchmark(bench_rows, quartiles, kind=kind, unit=unit, label=title)
    table_rows = []
    for k in range(len(rows)):
        table_rows.append((names[k], [
            Cell(fmt.show(values[k], kind, bool(held["value"][k])), value_ids[k], bool(held["value"][k])),
            Cell(fmt.show(ranks[k], "count", bool(held["rank"][k])), rank_ids[k], bool(held["rank"][k])),
        ]))
    for column, label in STATS:
        h = bool(held[column][0])
        table_rows.append((f"Hub {label.lower()}", [Cell(fmt.show(first[column][0], kind, h), first[column][1], h), Cell("")]))
    table = Table(["Authority", "Value", "Rank (1 = best)"], table_rows)
    order_words = "best first" if better in BETTER else "highest first"
    note = f'<span class="better">{esc(direction)}.</span> Authorities {order_words}.'
    if quartiles is None:
        note += " The hub's quartiles and ranks are withheld this month, because one authority's figure is withheld."
    return Figure(f"benchmark-{metric}", title, mart.name, period, period, drawn, table, note)


def render(publish: PageData, hub: str, las: list[Authority]) -> tuple[str, int]:
    """The hub's page, and how many charts it has, from the hub's rows of mart_benchmark (see `inputs.PageInputs`)."""
    mart = publish.mart("mart_benchmark")
    rows = mart.rows_of(group_type="hub", group_name=hub)
    figures: list[Figure] = []
    if not rows.empty:
        rows = rows.latest()
        latest = rows.first("period")
        metrics = rows["metric"]
        known = [m for m in METRICS if m in set(metrics)]
        for metric in known + sorted(set(metrics) - set(METRICS)):
            figures.append(metric_figure(publish, hub, metric, rows.where(metrics == metric)))
        when = fmt.month(latest)
    else:
        when = fmt.month(max(la.latest for la in las)) if las else ""  # its authorities' latest month
    links = "".join(f'<li><a href="../la/{esc(la.slug)}.html">{esc(la.name)}</a></li>' for la in las)
    intro = (
        f'<section class="card block" aria-labelledby="h-members"><h2 id="h-members">The hub\'s authorities</h2>'
        f'<ul class="members">{links}</ul><p class="muted-text">Each chart compares the authorities on one measure. '
        "The shaded band is the middle half of the hub (from the lower to the upper quartile), the dark line the hub's median "
        "and the dashed lines its lowest and highest figures.</p></section>"
    )
    body = intro + section("How the authorities compare", [figure_html(f, publish.threshold) for f in figures], grid=True) if figures else intro
    html = page(
        title=f"{hub}: fostering sufficiency benchmarks, {when}",
        heading=hub,
        subheading=f"Benchmarks of the hub's authorities · figures for <strong>{esc(when)}</strong>",
        crumbs=[("Overview", "../index.html"), (hub, None)],
        body=body,
        footer=footer(publish.threshold, page_source(when)),
    )
    return html, len(figures)
