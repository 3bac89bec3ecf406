"""One page per local authority: key figures, then its charts by theme (see `la_figures`).

The page is drawn from the LA's rows of the marts in `MARTS` only (`inputs.PageData`):
a chart that reads another mart must add it there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestration.report import fmt
from orchestration.report.charts import lateness_words
from orchestration.report.data import Authority, hub_slug
from orchestration.report.la_figures import (
    LA, approvals, budget, households, placements, places, recruitment_funnel, requests_by_need, shares, utilisation,
    weekly_cost,
)
from orchestration.report.layout import figure_html, footer, key_figures, page, page_source, section
from orchestration.report.svg import esc

if TYPE_CHECKING:
    from orchestration.report.inputs import PageData

# The marts an LA's page reads (its own rows of each): what its inputs, and so its digest, cover.
MARTS = ("mart_sufficiency", "mart_recruitment", "mart_sufficiency_by_need", "mart_cost_comparison", "mart_finance",
         "mart_submission_status")


def _status_text(publish: PageData, la: Authority) -> str:
    if not publish.has("mart_submission_status"):
        return ""
    status = publish.mart("mart_submission_status").rows_of(la.code).at_period(la.latest)
    if status.empty:
        return ""
    words = str(status.first("status")).replace("_", " ")
    late = lateness_words(status.first("late"))
    return f" · return for {fmt.month(la.latest)}: {esc(words)}{late}"


def render(publish: PageData, la: Authority) -> tuple[str, int]:
    """The LA's page, and how many charts it has, from its rows of `MARTS` (see `inputs.PageInputs`)."""
    x = LA(publish, la)
    last = x.suff_rows.at_period(x.latest)
    rec_all = x.latest_row("mart_recruitment", carer_type="all")
    cost = x.latest_row("mart_cost_comparison")
    when = fmt.month(x.latest)
    tiles = key_figures([
        ("Children looked after", x.cell("mart_sufficiency", last, "children_looked_after", "count"), when),
        ("Fostered with in-house or family and friends carers", x.cell("mart_sufficiency", last, "inhouse_fostering_share", "ratio"), when),
        ("Approved fostering households", x.cell("mart_sufficiency", last, "approved_households", "count"), when),
        ("In-house places filled (utilisation)", x.cell("mart_sufficiency", last, "place_utilisation", "ratio"), when),
        ("Households approved in 12 months", x.cell("mart_recruitment", rec_all, "r12_approvals", "count"), f"12 months to {when}"),
        ("Saving a year per child moved in-house", x.cell("mart_cost_comparison", cost, "r12_annual_saving_per_child", "money"), f"12 months to {when}"),
    ])
    blocks = [
        ("Where children live", [placements(x), shares(x)], "Children looked after at each month end, by the type of placement they were in."),
        ("Foster carers", [households(x), approvals(x)], "The council's approved fostering households, and the households approved and leaving each month."),
        ("Recruitment", [recruitment_funnel(x)], "How enquiries from people interested in fostering turn into approved households."),
        ("Places", [places(x), utilisation(x)], "Places offered by the council's own foster carers and how many are in use."),
        ("Placement requests", [requests_by_need(x)], "Requests for a foster placement and where the children were placed."),
        ("Cost", [weekly_cost(x), budget(x)], "What a fostering placement costs a week, and spending against budget."),
    ]
    body, charts = [tiles], 0
    for heading, figures, intro in blocks:
        figures = [f for f in figures if f is not None]
        charts += len(figures)
        if figures:
            body.append(section(heading, [figure_html(f, publish.threshold) for f in figures], esc(intro)))
    hub_href = f"../hub/{hub_slug(la.hub)}.html"
    sub = (f"{esc(la.hub)} · {esc(la.region)} · figures to <strong>{esc(when)}</strong>{_status_text(publish, la)}")
    html = page(
        title=f"{la.name}: fostering sufficiency, {when}",
        heading=la.name,
        subheading=sub,
        crumbs=[("Overview", "../index.html"), (la.hub, hub_href), (la.name, None)],
        body="".join(body),
        footer=footer(publish.threshold, page_source(when)),
    )
    return html, charts
