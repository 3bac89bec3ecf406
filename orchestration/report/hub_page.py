"""One page per hub: every metric of mart_benchmark, its authorities against the hub's quartiles."""

from __future__ import annotations

import numpy as np
import pandas as pd

from orchestration.report import fmt
from orchestration.report.charts import BenchRow, benchmark
from orchestration.report.data import Authority, Publish, cell_id
from orchestration.report.layout import Cell, Figure, Table, figure_html, footer, page, section
from orchestration.report.svg import esc

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


def _ordered(rows: pd.DataFrame, better: str) -> pd.DataFrame:
    """Best first (by rank where published, else by value in the better direction); withheld and missing last."""
    values = pd.to_numeric(rows["value"], errors="coerce").astype("float64")
    key = -values if better in ("higher", "none") else values
    ranks = pd.to_numeric(rows["rank"], errors="coerce").astype("float64")
    order = pd.DataFrame({"missing": values.isna(), "rank": ranks.fillna(np.inf), "key": key, "name": rows["la_name"]})
    sort_by = ["missing", "rank", "key", "name"] if ranks.notna().any() else ["missing", "key", "name"]
    return rows.loc[order.sort_values(sort_by).index]


def metric_figure(publish: Publish, hub: str, metric: str, rows: pd.DataFrame) -> Figure:
    mart = publish.mart("mart_benchmark")
    words, kind, unit = METRICS.get(metric, (metric.replace("_", " ").capitalize(), "number", "Value"))
    better = str(rows["better"].iloc[0]) if "better" in rows.columns and rows["better"].notna().any() else "none"
    rows = _ordered(rows, better)
    period = rows["period"].iloc[0]
    held = {c: mart.withheld(c, rows).to_numpy() for c in ("value", "rank", *[s for s, _ in STATS])}
    bench_rows = []
    for k, (_, r) in enumerate(rows.iterrows()):
        has_rank = not held["rank"][k] and not fmt.is_missing(r["rank"])
        bench_rows.append(BenchRow(
            name=r["la_name"], value=float(r["value"]) if not fmt.is_missing(r["value"]) else float("nan"),
            withheld=bool(held["value"][k]), cell=cell_id(mart.name, r, "value"),
            rank_text=fmt.show(r["rank"], "count") if has_rank else "", rank_cell=cell_id(mart.name, r, "rank") if has_rank else None,
        ))
    stats_held = bool(np.any([held[s] for s, _ in STATS]))
    first = rows.iloc[0]
    quartiles = None
    if not stats_held and all(not fmt.is_missing(first[s]) for s, _ in STATS):
        quartiles = {s: (float(first[s]), cell_id(mart.name, first, s)) for s, _ in STATS}
    direction = BETTER.get(better, "Context only: neither higher nor lower is better")
    title = f"{words}, {fmt.month(period)} ({mart.name})"
    drawn = benchmark(bench_rows, quartiles, kind=kind, unit=unit, label=title)
    table_rows = []
    for k, (_, r) in enumerate(rows.iterrows()):
        table_rows.append((r["la_name"], [
            Cell(fmt.show(r["value"], kind, bool(held["value"][k])), cell_id(mart.name, r, "value"), bool(held["value"][k])),
            Cell(fmt.show(r["rank"], "count", bool(held["rank"][k])), cell_id(mart.name, r, "rank"), bool(held["rank"][k])),
        ]))
    for column, label in STATS:
        h = bool(held[column][0])
        table_rows.append((f"Hub {label.lower()}", [Cell(fmt.show(first[column], kind, h), cell_id(mart.name, first, column), h), Cell("")]))
    table = Table(["Authority", "Value", "Rank (1 = best)"], table_rows)
    order_words = "best first" if better in BETTER else "highest first"
    note = f'<span class="better">{esc(direction)}.</span> Authorities {order_words}.'
    if quartiles is None:
        note += " The hub's quartiles and ranks are withheld this month, because one authority's figure is withheld."
    return Figure(f"benchmark-{metric}", title, mart.name, period, period, drawn, table, note)


def render(publish: Publish, hub: str, las: list[Authority]) -> tuple[str, int]:
    """The hub's page, and how many charts it has."""
    mart = publish.mart("mart_benchmark")
    rows = mart.select(group_type="hub", group_name=hub)
    figures: list[Figure] = []
    if not rows.empty:
        latest = rows["period"].max()
        rows = rows[rows["period"] == latest]
        known = [m for m in METRICS if m in set(rows["metric"])]
        for metric in known + sorted(set(rows["metric"]) - set(METRICS)):
            figures.append(metric_figure(publish, hub, metric, rows[rows["metric"] == metric]))
        when = fmt.month(latest)
    else:
        when = fmt.month(publish.latest_period) if publish.latest_period is not None else ""
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
        footer=footer(publish),
    )
    return html, len(figures)
