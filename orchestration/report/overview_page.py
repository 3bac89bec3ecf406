"""The overview page: the hubs and their authorities, the latest month, returns received and late."""

from __future__ import annotations

import numpy as np
import pandas as pd

from orchestration.report import fmt
from orchestration.report.charts import late_and_unknown, late_suffix, lateness, lateness_words, status_grid
from orchestration.report.data import Authority, Publish, Rows, hub_slug
from orchestration.report.layout import Cell, Figure, Table, figure_html, footer, mart_table, page, section
from orchestration.report.svg import esc

STATUS_WORDS = {"accepted": "accepted", "accepted_with_warnings": "accepted with warnings", "rejected": "rejected", "missing": "not received"}
GRID_MONTHS = 12


def _when(ts) -> str:
    if fmt.is_missing(ts):
        return fmt.MISSING_TEXT
    ts = pd.Timestamp(ts)
    return f'<time datetime="{ts:%Y-%m-%d}">{ts.day} {ts:%b %Y}</time>'


def _status(publish: Publish) -> pd.DataFrame:
    return publish.mart("mart_submission_status").rows if publish.has("mart_submission_status") else pd.DataFrame()


def _hub_cards(publish: Publish, hubs: dict[str, list[Authority]], status: pd.DataFrame) -> str:
    cards = []
    names_by_hub = {}
    if not status.empty:
        for hub, frame in status.groupby(status["hub"].fillna("No hub")):
            names_by_hub[hub] = frame
    for hub in sorted(set(hubs) | set(names_by_hub)):
        members = hubs.get(hub, [])
        items = []
        for la in members:
            row = publish.mart("mart_submission_status").rows_of(la.code).at_period(la.latest) if not status.empty else Rows.none()
            pill = ""
            if not row.empty:
                r = {"late": row.first("late"), "status": row.first("status")}
                late = lateness(r["late"]) is True
                pill = (f'<span class="pill {"late" if late else "ok"}">{esc(STATUS_WORDS.get(str(r["status"]), str(r["status"])))}'
                        f'{esc(lateness_words(r["late"]))}</span>')
            items.append(f'<li><a href="la/{esc(la.slug)}.html">{esc(la.name)}</a> '
                         f'<span class="muted-text">· {esc(fmt.month(la.latest))}</span>{pill}</li>')
        with_data = {la.code for la in members}
        frame = names_by_hub.get(hub, pd.DataFrame())
        silent = sorted(set(frame.loc[~frame["la_code"].isin(with_data), "la_name"])) if not frame.empty else []
        none = (f'<p class="muted-text">No returns in this publish from: {esc(", ".join(silent))}.</p>') if silent else ""
        heading = f'<a href="hub/{esc(hub_slug(hub))}.html">{esc(hub)}</a>' if members else esc(hub)
        listing = f"<ul>{''.join(items)}</ul>" if items else '<p class="muted-text">No authority in this hub has published figures yet.</p>'
        cards.append(f'<div class="card"><h3>{heading}</h3>{listing}{none}</div>')
    return f'<section class="block" aria-labelledby="h-hubs"><h2 id="h-hubs">Hubs and their authorities</h2><div class="cards">{"".join(cards)}</div></section>'


def _status_figure(publish: Publish, las: list[Authority], status: pd.DataFrame) -> Figure | None:
    if status.empty or not las:
        return None
    periods = sorted(status["period"].unique())[-GRID_MONTHS:]
    codes = [la.code for la in las]
    frame = status[status["la_code"].isin(codes) & status["period"].isin(periods)]
    grid = frame.pivot_table(index="la_code", columns="period", values="status", aggfunc="first").reindex(index=codes, columns=periods)
    is_late, is_unknown = late_and_unknown(frame["late"])
    flags = frame.assign(late=is_late, unknown=is_unknown)
    late = flags.pivot_table(index="la_code", columns="period", values="late", aggfunc="max").reindex(index=codes, columns=periods)
    unknown = flags.pivot_table(index="la_code", columns="period", values="unknown", aggfunc="max").reindex(index=codes, columns=periods)
    status_values = grid.fillna("missing").to_numpy(dtype=object)
    late_values = late.fillna(False).to_numpy(dtype=bool)
    # An LA with no row for a month is drawn "not received", not "lateness unknown".
    unknown_values = unknown.fillna(False).to_numpy(dtype=bool) & ~late_values
    names = [la.name for la in las]
    title = f"Returns received by month, {fmt.span(periods[0], periods[-1])} (mart_submission_status)"
    drawn = status_grid(names, [pd.Timestamp(p) for p in periods], status_values, late_values, label=title, unknown=unknown_values)
    rows = []
    for i, name in enumerate(names):
        rows.append((name, [Cell(f"{STATUS_WORDS.get(str(s), str(s))}{late_suffix(l, u)}")
                            for s, l, u in zip(status_values[i], late_values[i], unknown_values[i])]))
    table = Table(["Authority", *[fmt.month(p) for p in periods]], rows)
    note = ("A return is due on the fifteenth of the month after the month it reports on; the filled corner mark shows a late one. "
            "The open corner mark shows a return whose lateness is unknown: it was loaded with the history after its due date "
            "and signed off in time, so when it was sent is not known.")
    return Figure("returns", title, "mart_submission_status", pd.Timestamp(periods[0]), pd.Timestamp(periods[-1]), drawn, table, note)


def _late_table(status: pd.DataFrame, period) -> str:
    if status.empty or period is None:
        return ""
    rows = status[(status["period"] == period) & late_and_unknown(status["late"])[0]]
    rows = rows.assign(_missing=rows["status"] == "missing").sort_values(["_missing", "hub", "la_name"])  # received late first
    if rows.empty:
        return f'<p>No return for {esc(fmt.month(period))} is late.</p>'
    body = "".join(
        f'<tr><th scope="row">{esc(r.la_name)}</th><td>{esc(r.hub if isinstance(r.hub, str) else "")}</td>'
        f'<td>{esc(STATUS_WORDS.get(str(r.status), str(r.status)))}</td><td>{_when(r.due_date)}</td><td>{_when(r.received_at)}</td></tr>'
        for r in rows.itertuples()
    )
    return (
        f'<div class="card"><h3>Late returns for {esc(fmt.month(period))}</h3><div class="scroll"><table class="text">'
        f'<caption>Returns for {esc(fmt.month(period))} received after their due date, or not received (mart_submission_status)</caption>'
        '<thead><tr><th scope="col">Authority</th><th scope="col">Hub</th><th scope="col">Status</th><th scope="col">Due</th>'
        f'<th scope="col">Received</th></tr></thead><tbody>{body}</tbody></table></div></div>'
    )


def _key_table(publish: Publish, las: list[Authority]) -> str:
    """The latest month's headline figures of every authority, side by side."""
    suff = publish.mart("mart_sufficiency")
    rows = Rows(suff, np.concatenate([suff.rows_of(la.code, period=la.latest).pos for la in las] or [np.array([], dtype=np.intp)]))
    if rows.empty:
        return ""
    cols = [("children_looked_after", "Children looked after", "count"), ("fostering", "Fostered", "count"),
            ("inhouse_fostering_share", "In-house fostering share", "ratio"), ("approved_households", "Approved households", "count"),
            ("places_vacant", "Vacant places", "count"), ("place_utilisation", "Place utilisation", "ratio")]
    table = mart_table(suff, rows, cols, lambda rows: [f"{n} ({fmt.month(p)})" for n, p in zip(rows["la_name"], rows["period"])], "Authority (month)")
    slugs = {la.name: la.slug for la in las}
    head = "".join(f'<th scope="col">{esc(h)}</th>' for h in table.head)
    body = []
    for (label, cells), name in zip(table.rows, rows["la_name"]):
        tds = "".join(f'<td class="{"withheld" if c.withheld else "num"}" data-cell="{esc(c.cell)}">{esc(c.text)}</td>' for c in cells)
        body.append(f'<tr><th scope="row"><a href="la/{esc(slugs.get(name, ""))}.html">{esc(label)}</a></th>{tds}</tr>')
    return (
        '<section class="block" aria-labelledby="h-key"><h2 id="h-key">Key figures by authority</h2>'
        '<div class="card"><div class="scroll"><table><caption>Each authority\'s latest month (mart_sufficiency)</caption>'
        f'<thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div></div></section>'
    )


def render(publish: Publish, hubs: dict[str, list[Authority]]) -> tuple[str, int]:
    las = [la for members in hubs.values() for la in members]
    status = _status(publish)
    latest = publish.latest_period
    figure = _status_figure(publish, las, status)
    returns = [figure_html(figure, publish.threshold)] if figure else []
    returns_block = section("Returns", returns + [_late_table(status, latest)],
                            "Which authorities have sent their monthly return, and which returns came in late.")
    created = esc(publish.created_at.replace("T", " ").replace("Z", " UTC"))
    source = (f'Built from the published marts of publish <code>{esc(publish.version)}</code> '
              f'(<time datetime="{esc(publish.created_at)}">{esc(publish.created_at)}</time>), '
              "files that are already disclosure-controlled.")
    sub = (f"Published figures to <strong>{esc(fmt.month(latest)) if latest is not None else '–'}</strong> · "
           f'publish <code>{esc(publish.version)}</code>, made <time datetime="{esc(publish.created_at)}">{created}</time>')
    intro = (
        '<p class="lead">Fostering sufficiency for each authority and hub: where children looked after live, the council\'s own '
        "foster carers, recruitment, places, placement requests and cost. Every figure comes from the published marts, where small "
        "numbers are withheld; a withheld figure reads “withheld”, never zero.</p>"
    )
    html = page(
        title=f"Fostering sufficiency report, {fmt.month(latest) if latest is not None else ''}",
        heading="Fostering sufficiency report",
        subheading=sub,
        crumbs=[("Overview", None)],
        body=intro + _hub_cards(publish, hubs, status) + _key_table(publish, las) + returns_block,
        footer=footer(publish.threshold, source),
    )
    return html, len(returns)

