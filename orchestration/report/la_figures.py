"""The charts of an authority's page, each a `Figure` built from the published marts only."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from orchestration.report import fmt
from orchestration.report.charts import (
    BLUE, GREEN, GREY, ORANGE, PURPLE, SKY, VERMILLION, YELLOW, columns, funnel, hbars, lines, paired_bars,
)
from orchestration.report.data import Authority, Rows
from orchestration.report.layout import Cell, Figure, Table, mart_table, value
from orchestration.report.layout import months as months_of
from orchestration.report.series import group_series, positions, recent, series
from orchestration.report.svg import esc

if TYPE_CHECKING:
    from orchestration.report.inputs import PageData

CATEGORIES = {  # mart_sufficiency column -> plain words
    "foster_inhouse": "In-house foster carers",
    "foster_connected": "Family and friends carers",
    "foster_ifa": "Independent fostering agencies",
    "foster_other_la": "Other councils' foster carers",
    "residential_inhouse": "Council children's homes",
    "residential_external": "External children's homes",
    "residential_school": "Residential schools",
    "secure": "Secure children's homes",
    "supported_accommodation": "Supported accommodation",
    "placed_with_parents": "Placed with parents",
    "placed_for_adoption": "Placed for adoption",
    "other": "Other placements",
}
GROUPS = [  # what the stacked chart shows: (words, colour, mart_sufficiency columns)
    ("In-house foster carers", BLUE, ["foster_inhouse"]),
    ("Family and friends carers", SKY, ["foster_connected"]),
    ("Independent fostering agencies", ORANGE, ["foster_ifa"]),
    ("Other councils' foster carers", YELLOW, ["foster_other_la"]),
    ("Residential (homes, schools, secure)", VERMILLION, ["residential_inhouse", "residential_external", "residential_school", "secure"]),
    ("Supported accommodation", PURPLE, ["supported_accommodation"]),
    ("With parents or placed for adoption", GREEN, ["placed_with_parents", "placed_for_adoption"]),
    ("Other placements", GREY, ["other"]),
]
REASONS = [  # mart_recruitment deregistration columns -> (words, colour)
    ("der1", "Moved to an independent agency", ORANGE),
    ("der2", "Ended by the fostering service", VERMILLION),
    ("der3", "Carer's decision (resigned, retired, health)", PURPLE),
    ("der4", "Moved to another council", YELLOW),
    ("der5", "Adopted the child", GREEN),
    ("der6", "Special guardianship or child arrangements order", SKY),
]
NEEDS = {
    "teenager": "Teenagers (11 and over)", "sibling_group": "Sibling groups", "disability": "Children with a disability",
    "parent_and_child": "Parent and child", "uasc": "Unaccompanied asylum-seeking", "step_down": "Step down from residential",
    "emergency": "Emergency", "general": "General",
}
COST_LINES = {
    "fostering_allowances": "In-house carers' allowances and fees", "ifa_fees": "Independent agency fees",
    "residential_fees": "Residential placement fees", "connected_carer_allowances": "Family and friends carers' allowances",
    "fostering_staff": "Fostering service staff", "fostering_other": "Recruitment, training and other costs",
}


def _months(rows: Rows) -> list[pd.Timestamp]:
    """Every month from the rows' first to their last: a month without a return shows as a gap."""
    periods = rows.period
    return list(pd.date_range(pd.Timestamp(periods.min()), pd.Timestamp(periods.max()), freq="MS"))


def _span_title(words: str, periods: list, mart: str) -> str:
    return f"{words}, {fmt.span(periods[0], periods[-1])} ({mart})"


class LA:
    """What the charts of one LA share: the page's data (the LA's rows of each mart), the LA, its months.

    Rows are `Rows` (positions into the marts' column arrays), not DataFrames: see `data.Rows`.
    """

    def __init__(self, publish: PageData, la: Authority):
        self.p, self.la = publish, la
        self.suff = publish.mart("mart_sufficiency")
        self.suff_rows = recent(self.suff.rows_of(la.code))
        self.months = _months(self.suff_rows)
        self.months64 = pd.DatetimeIndex(self.months).to_numpy()
        self.latest = self.months[-1]
        self.threshold = publish.threshold

    def latest_row(self, mart_name: str, **equal) -> Rows:
        if not self.p.has(mart_name):
            return Rows.none()
        return self.p.mart(mart_name).rows_of(self.la.code, **equal).latest()

    def cell(self, mart_name: str, rows: Rows, column: str, kind: str) -> str:
        """A figure from the (single) row given, as a traceable span; "–" when there is no row."""
        if rows.empty:
            return value(None, kind, False, None)
        first = rows.take([0])
        return value(first.first(column), kind, bool(first.withheld(column)[0]), first.ids(column)[0])


class _Row:
    """One row of `Rows`, read like a DataFrame row: `row[column]`, and `row.id(column)` its cell reference."""

    def __init__(self, rows: Rows):
        self.rows = rows.take([0])

    def __getitem__(self, column: str):
        return self.rows.first(column)

    def id(self, column: str) -> str:
        return self.rows.ids(column)[0]


# --- the charts --------------------------------------------------------------------------------


def placements(x: LA) -> Figure:
    rows, months = x.suff_rows, x.months
    groups, held = [], np.zeros(len(months), bool)
    for words, colour, cols in GROUPS:
        s, some = group_series(x.suff, rows, cols, name=words, colour=colour, order=months)
        groups.append(s)
        held |= some
    total = series(x.suff, rows, "children_looked_after", name="Children looked after", colour=BLUE, order=months)
    shown = np.nansum(np.vstack([g.values for g in groups]), axis=0)
    band = np.where(np.isfinite(total.values) & held, np.maximum(total.values - shown, 0.0), np.nan)
    at = positions(rows, "period", months)
    flags = {c: np.append(rows.withheld(c), False)[at] for c in CATEGORIES}
    tips = [
        f"{fmt.month(p)} · withheld: {', '.join(CATEGORIES[c] for c in CATEGORIES if bool(flags[c][i])).lower()}"
        for i, p in enumerate(months)
    ]
    title = _span_title("Children looked after by placement type", months, "mart_sufficiency")
    drawn = columns(months, groups, kind="count", unit="Children looked after at month end", label=title, band=band, band_tips=tips)
    drawn.has_withheld = drawn.has_withheld or bool(held.any())
    cols = [("children_looked_after", "Children looked after", "count")] + [(c, w, "count") for c, w in CATEGORIES.items()]
    last = rows.at_period(x.latest)
    note = (
        f"At the end of {fmt.month(x.latest)}, {x.cell('mart_sufficiency', last, 'children_looked_after', 'count')} children were looked after; "
        f"{x.cell('mart_sufficiency', last, 'fostering', 'count')} of them were fostered. Hatched parts of a column are "
        "children in placement types whose numbers are withheld."
    )
    return Figure("placements", title, "mart_sufficiency", months[0], months[-1], drawn, mart_table(x.suff, rows, cols, months_of), note)


def shares(x: LA) -> Figure:
    rows, months = x.suff_rows, x.months
    title = _span_title("In-house fostering share and family-based share", months, "mart_sufficiency")
    drawn = lines(months, [
        series(x.suff, rows, "inhouse_fostering_share", name="Fostered children with the council's own or family and friends carers", colour=BLUE, kind="ratio", order=months),
        series(x.suff, rows, "family_based_share", name="Children looked after living in a family (fostered, with parents, or placed for adoption)", colour=GREEN, kind="ratio", order=months, dash="7 4"),
    ], kind="ratio", unit="Share of children (%)", label=title, ceiling=1.0)
    cols = [("fostering", "Fostered", "count"), ("foster_inhouse", "In-house carers", "count"),
            ("foster_connected", "Family and friends carers", "count"), ("inhouse_fostering_share", "In-house fostering share", "ratio"),
            ("children_looked_after", "Children looked after", "count"), ("family_based_share", "Family-based share", "ratio")]
    last = rows.at_period(x.latest)
    note = (f"In {fmt.month(x.latest)}, {x.cell('mart_sufficiency', last, 'inhouse_fostering_share', 'ratio')} of fostered children lived with "
            f"the council's own or family and friends carers, and {x.cell('mart_sufficiency', last, 'family_based_share', 'ratio')} "
            "of all children looked after lived in a family setting.")
    return Figure("shares", title, "mart_sufficiency", months[0], months[-1], drawn, mart_table(x.suff, rows, cols, months_of), note)


def _recruitment(x: LA, carer_type: str) -> Rows:
    rec = x.p.mart("mart_recruitment")
    return rec.rows_of(x.la.code, carer_type=carer_type).in_months(x.months64)


def households(x: LA) -> Figure:
    rec = x.p.mart("mart_recruitment")
    months = x.months
    mainstream, connected, both = (_recruitment(x, t) for t in ("mainstream", "connected", "all"))
    title = _span_title("Approved fostering households by carer type", months, "mart_recruitment")
    drawn = lines(months, [
        series(rec, mainstream, "approved_households", name="Mainstream (the council's own carers)", colour=BLUE, order=months),
        series(rec, connected, "approved_households", name="Family and friends (connected) carers", colour=SKY, order=months, dash="7 4"),
    ], kind="count", unit="Approved households at month end", label=title)
    table = _carer_table(rec, months, {"mainstream": mainstream, "connected": connected, "all": both}, "approved_households")
    last = both.latest()
    note = f"{x.cell('mart_recruitment', last, 'approved_households', 'count')} fostering households were approved at the end of {fmt.month(x.latest)}."
    return Figure("households", title, "mart_recruitment", months[0], months[-1], drawn, table, note)


def _carer_table(rec, months, frames: dict[str, Rows], column: str) -> Table:
    heads = {"mainstream": "Mainstream", "connected": "Family and friends", "all": "All carers"}
    by_type = {}
    for key, frame in frames.items():
        cells = [Cell(fmt.show(v, "count"), i) for v, i in zip(frame[column], frame.ids(column))]
        by_type[key] = dict(zip(frame["period"], cells))
    rows = [(fmt.month(p), [by_type[k].get(p, Cell(fmt.MISSING_TEXT)) for k in frames]) for p in months]
    return Table(["Month", *[heads[k] for k in frames]], rows)


def approvals(x: LA) -> Figure:
    rec = x.p.mart("mart_recruitment")
    months = x.months
    rows = _recruitment(x, "all")
    title = _span_title("Households approved and households leaving, by reason", months, "mart_recruitment")
    parts = [series(rec, rows, "approvals", name="Approved", colour=BLUE, order=months)]
    parts += [series(rec, rows, col, name=f"Left: {words.lower()}", colour=colour, order=months, sign=-1) for col, words, colour in REASONS]
    drawn = columns(months, parts, kind="count", unit="Households in the month (approved above the line, leaving below)", label=title)
    cols = [("approvals", "Approved", "count"), ("deregistrations", "Left (all reasons)", "count")]
    cols += [(c, f"Left: {w.lower()}", "count") for c, w, _ in REASONS] + [("net_household_change", "Net change", "count")]
    last = rows.latest()
    note = (f"All carer types. Over the 12 months to {fmt.month(x.latest)}, {x.cell('mart_recruitment', last, 'r12_approvals', 'count')} "
            f"households were approved and {x.cell('mart_recruitment', last, 'r12_deregistrations', 'count')} left.")
    return Figure("approvals", title, "mart_recruitment", months[0], months[-1], drawn, mart_table(rec, rows, cols, months_of), note)


def recruitment_funnel(x: LA) -> Figure | None:
    rec = x.p.mart("mart_recruitment")
    last = x.latest_row("mart_recruitment", carer_type="mainstream")
    if last.empty:
        return None
    row = _Row(last)
    period = row["period"]
    first = period - pd.DateOffset(months=11)
    title = f"Recruitment of mainstream foster carers, 12 months to {fmt.month(period)} ({rec.name})"
    stage_cols = [("r12_enquiries", "Enquiries"), ("r12_initial_visits", "Initial visits"),
                  ("r12_applications", "Applications"), ("r12_approvals", "Approvals")]
    rate_cols = [("r12_visit_rate", "of enquiries led to an initial visit"), ("r12_application_rate", "of initial visits led to an application"),
                 ("r12_approval_rate", "of applications were approved")]
    stages = [(words, float(row[c]) if not fmt.is_missing(row[c]) else float("nan"), row.id(c)) for c, words in stage_cols]
    rates = [(words, fmt.show(row[c], "ratio"), row.id(c)) for c, words in rate_cols]
    drawn = funnel(stages, rates, label=title, unit="Households, 12 months")
    table_rows = []
    for k, (c, words) in enumerate(stage_cols):
        rate = [Cell(fmt.show(row[rate_cols[k][0]], "ratio"), row.id(rate_cols[k][0]))] if k < len(rate_cols) else [Cell(fmt.MISSING_TEXT)]
        table_rows.append((words, [Cell(fmt.show(row[c], "count"), row.id(c)), *rate]))
    table = Table(["Stage", "Households (12 months)", "Rate to the next stage"], table_rows)
    note = (f"{x.cell('mart_recruitment', last, 'r12_conversion_rate', 'ratio')} of enquiries became an approval (conversion rate). "
            "Rates compare the flows of the same 12 months, so they can pass 100%.")
    return Figure("funnel", title, rec.name, first, period, drawn, table, note)


def places(x: LA) -> Figure:
    rows, months = x.suff_rows, x.months
    title = _span_title("In-house foster places: filled, vacant and unavailable", months, "mart_sufficiency")
    drawn = columns(months, [
        series(x.suff, rows, "places_filled", name="Filled", colour=BLUE, order=months),
        series(x.suff, rows, "places_vacant", name="Vacant", colour=GREEN, order=months),
        series(x.suff, rows, "places_unavailable", name="Unavailable (e.g. carer on a break)", colour=GREY, order=months),
    ], kind="count", unit="Approved places at month end", label=title)
    cols = [("approved_places", "Approved places", "count"), ("places_filled", "Filled", "count"), ("places_vacant", "Vacant", "count"),
            ("places_unavailable", "Unavailable", "count"), ("place_utilisation", "Utilisation", "ratio")]
    last = rows.at_period(x.latest)
    note = (f"In {fmt.month(x.latest)}, {x.cell('mart_sufficiency', last, 'places_vacant', 'count')} places were vacant and "
            f"{x.cell('mart_sufficiency', last, 'place_utilisation', 'ratio')} of the places available were filled.")
    return Figure("places", title, "mart_sufficiency", months[0], months[-1], drawn, mart_table(x.suff, rows, cols, months_of), note)


def utilisation(x: LA) -> Figure:
    rows, months = x.suff_rows, x.months
    title = _span_title("Place utilisation: available in-house places that are filled", months, "mart_sufficiency")
    drawn = lines(months, [series(x.suff, rows, "place_utilisation", name="Place utilisation", colour=BLUE, kind="ratio", order=months)],
                  kind="ratio", unit="Places filled, of those available (%)", label=title, ceiling=1.0)
    cols = [("place_utilisation", "Utilisation", "ratio"), ("places_filled", "Filled", "count"),
            ("approved_places", "Approved places", "count"), ("places_unavailable", "Unavailable", "count")]
    return Figure("utilisation", title, "mart_sufficiency", months[0], months[-1], drawn, mart_table(x.suff, rows, cols, months_of),
                  "Filled places divided by approved places less those unavailable.")


def requests_by_need(x: LA) -> Figure | None:
    last = x.latest_row("mart_sufficiency_by_need")
    if last.empty:
        return None
    mart = x.p.mart("mart_sufficiency_by_need")
    period = last.first("period")
    held_total = last.withheld("r12_requests")
    requests = last.floats("r12_requests")
    order_key = np.where(held_total, -1.0, np.where(np.isnan(requests), -0.5, requests))
    last = last.take(np.argsort(-order_key, kind="stable"))
    needs = list(last["need_category"])
    labels = [NEEDS.get(n, n.replace("_", " ").capitalize()) for n in needs]
    title = f"Placement requests by need, 12 months to {fmt.month(period)} ({mart.name})"
    parts = [series(mart, last, c, name=w, colour=col, by="need_category", order=needs) for c, w, col in (
        ("r12_placed_in_house", "Placed with in-house carers", BLUE), ("r12_placed_external", "Placed elsewhere", ORANGE),
        ("r12_not_placed", "Not placed", GREY))]
    total = series(mart, last, "r12_requests", name="Requests", colour=BLUE, by="need_category", order=needs)
    shown = np.nansum(np.vstack([p.values for p in parts]), axis=0)
    some_held = np.any([p.withheld for p in parts], axis=0)
    remainder = np.where(np.isfinite(total.values) & some_held, np.maximum(total.values - shown, 0.0), np.nan)
    tips = [f"{labels[i]}: outcomes withheld" for i in range(len(needs))]
    fill = series(mart, last, "r12_inhouse_fill_rate", name="fill", colour=BLUE, kind="ratio", by="need_category", order=needs)
    ends = [(fmt.show(fill.values[i], "ratio", bool(fill.withheld[i])), fill.cells[i]) for i in range(len(needs))]
    drawn = hbars(labels, parts, kind="count", unit="Requests for a placement, 12 months", label=title, remainder=remainder,
                  remainder_tips=tips, row_withheld=total.withheld, end_labels=ends, end_title="Filled in-house")
    drawn.has_withheld = drawn.has_withheld or bool(some_held.any() or fill.withheld.any())
    cols = [("r12_requests", "Requests", "count"), ("r12_placed_in_house", "Placed in-house", "count"),
            ("r12_placed_external", "Placed elsewhere", "count"), ("r12_not_placed", "Not placed", "count"),
            ("r12_inhouse_fill_rate", "In-house fill rate", "ratio")]
    table = mart_table(mart, last, cols, lambda rows: [NEEDS.get(n, n) for n in rows["need_category"]], "Need")
    note = "The in-house fill rate is the share of requests placed with the council's own carers."
    return Figure("requests", title, mart.name, period - pd.DateOffset(months=11), period, drawn, table, note)


def weekly_cost(x: LA) -> Figure | None:
    if not x.p.has("mart_cost_comparison"):
        return None
    mart = x.p.mart("mart_cost_comparison")
    rows = mart.rows_of(x.la.code).in_months(x.months64)
    if rows.empty:
        return None
    months = _months(rows)
    title = _span_title("Weekly cost per child: in-house fostering against independent agencies (rolling 12 months)", months, mart.name)
    drawn = lines(months, [
        series(mart, rows, "r12_inhouse_weekly_cost", name="In-house fostering, with overheads", colour=BLUE, kind="money", order=months),
        series(mart, rows, "r12_ifa_weekly_cost", name="Independent fostering agency", colour=ORANGE, kind="money", order=months, dash="7 4"),
    ], kind="money", unit="£ per child per week", label=title)
    cols = [("r12_inhouse_weekly_cost", "In-house (12 months)", "money"), ("r12_ifa_weekly_cost", "Agency (12 months)", "money"),
            ("r12_ifa_premium_weekly", "Agency costs more by, a week", "money"),
            ("r12_annual_saving_per_child", "Annual saving per child moved in-house", "money"),
            ("inhouse_weekly_cost", "In-house (month)", "money"), ("ifa_weekly_cost", "Agency (month)", "money")]
    last = rows.latest()
    note = (f"Moving one child from an agency to an in-house carer saves about "
            f"{x.cell(mart.name, last, 'r12_annual_saving_per_child', 'money')} a year "
            f"(12 months to {fmt.month(months[-1])}).")
    return Figure("cost", title, mart.name, months[0], months[-1], drawn, mart_table(mart, rows, cols, months_of), note)


def budget(x: LA) -> Figure | None:
    last = x.latest_row("mart_finance")
    if last.empty:
        return None
    mart = x.p.mart("mart_finance")
    period = last.first("period")
    order = [c for c in COST_LINES if c in set(last["cost_line"])] + sorted(set(last["cost_line"]) - set(COST_LINES))
    last = last.take(np.argsort([order.index(c) for c in last["cost_line"]], kind="stable"))
    labels = [COST_LINES.get(c, c.replace("_", " ").capitalize()) for c in order]
    fy_start = pd.Timestamp(year=period.year if period.month >= 4 else period.year - 1, month=4, day=1)
    title = f"Budget against actual spend, financial year {fmt.financial_year(period)} to {fmt.month(period)} ({mart.name})"
    first = series(mart, last, "fytd_budget", name="Budget, year to date", colour="#9aa5b1", kind="money", by="cost_line", order=order)
    second = series(mart, last, "fytd_actual", name="Actual, year to date", colour=BLUE, kind="money", by="cost_line", order=order)
    variance = series(mart, last, "fytd_variance", name="variance", colour=BLUE, kind="money", by="cost_line", order=order)
    ends = [(fmt.show(variance.values[i], "money_signed"), variance.cells[i]) for i in range(len(order))]
    drawn = paired_bars(labels, first, second, kind="money", unit="£, financial year to date", label=title, end_labels=ends,
                        end_title="Over (+) or under (−) budget")
    cols = [("fytd_budget", "Budget, year to date", "money"), ("fytd_actual", "Actual, year to date", "money"),
            ("fytd_variance", "Over (+) or under (−) budget, year to date", "money_signed"), ("budget", f"Budget, {fmt.month(period)}", "money"),
            ("actual", f"Actual, {fmt.month(period)}", "money")]
    table = mart_table(mart, last, cols, lambda rows: [COST_LINES.get(c, c) for c in rows["cost_line"]], "Cost line")
    spent = tuple(c for c, ok in zip(second.cells, np.isfinite(second.values)) if ok and c)
    planned = tuple(c for c, ok in zip(first.cells, np.isfinite(first.values)) if ok and c)
    total_spent, total_planned = np.nansum(second.values), np.nansum(first.values)
    note = (f'So far this financial year, <span class="fig" data-sum="{esc(" ".join(spent))}">{esc(fmt.money(total_spent))}</span> '
            f'was spent against a budget of <span class="fig" data-sum="{esc(" ".join(planned))}">{esc(fmt.money(total_planned))}</span>.')
    return Figure("budget", title, mart.name, fy_start, period, drawn, table, note)
