"""The kinds of rule a contract can name, each run on whole typed columns.

A rule in the contract YAML says `kind: sum_equals` and gives its arguments;
the function of that name here does the checking. A new rule of an existing
kind is a data change; a new kind is one function added to RULES.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from orchestration import reference
from orchestration.returns.findings import Findings
from orchestration.returns.readers import ROW
from orchestration.returns.schema import Contract

FOREVER = pd.Timestamp.max.normalize()


@dataclass
class RuleContext:
    contract: Contract
    tables: dict[str, pd.DataFrame]
    letters: dict[str, dict[str, str]]
    period: pd.Timestamp | None  # first day of the reporting month
    today: pd.Timestamp
    reference_dir: Path | None
    known_versions: list[str]
    cache: dict = field(default_factory=dict, repr=False)  # what several rules derive from one return

    @property
    def period_end(self) -> pd.Timestamp | None:
        return None if self.period is None else self.period + pd.offsets.MonthEnd(0)

    def where(self, rule: dict, column: str) -> dict:
        return dict(table=rule["table"], column=column, letter=self.letters.get(rule["table"], {}).get(column))

    def shown(self, table: str, column: str, values: pd.Series):
        """Values for a finding, or None for personal data."""
        return None if self.contract.tables[table].column(column).personal else values


def _report(findings: Findings, rule: dict, ctx: RuleContext, frame: pd.DataFrame, mask: pd.Series, column: str, expected=None, display=None):
    """Report the rows picked by `mask`; `display(rows)` gives the values to show when they are not the column's own."""
    if not mask.any():  # the usual case: build no message
        return
    hit = frame[mask]
    values = hit[column] if display is None else display(hit)
    if callable(expected):
        expected = expected(mask)
    findings.add(
        rule["code"], rule["severity"], rule["message"] if expected is None else expected[mask],
        rows=hit[ROW], values=ctx.shown(rule["table"], column, values), **ctx.where(rule, column),
    )


def row_rule(check):
    """A rule about the rows of its own table: with no rows there is nothing to check."""

    def run(rule, ctx, findings):
        if not ctx.tables[rule["table"]].empty:
            check(rule, ctx, findings)

    run.__name__ = check.__name__
    run.__doc__ = check.__doc__
    return run


def _date(values: pd.Series) -> pd.Series:
    return values.dt.strftime("%Y-%m-%d")


# --- submission ---------------------------------------------------------------


@row_rule
def la_in_reference(rule, ctx, findings):
    frame = ctx.tables[rule["table"]]
    codes = frame[rule["column"]]
    unknown = codes.notna() & reference.gss_for(codes.fillna(""), ctx.reference_dir).isna()
    _report(findings, rule, ctx, frame, unknown, rule["column"])


@row_rule
def known_return_version(rule, ctx, findings):
    frame = ctx.tables[rule["table"]]
    versions = frame[rule["column"]]
    text = versions.fillna("").astype(str)
    normalised = text.where(text.str.contains(".", regex=False), text + ".0")
    unknown = versions.notna() & ~normalised.isin(ctx.known_versions)
    expected = pd.Series(f"{rule['message']}: {', '.join(ctx.known_versions)}", index=frame.index)
    _report(findings, rule, ctx, frame, unknown, rule["column"], expected)


@row_rule
def period_in_range(rule, ctx, findings):
    frame = ctx.tables[rule["table"]]
    period = frame[rule["column"]]
    earliest = pd.Timestamp(f"{ctx.contract.earliest_period}-01")
    latest = ctx.today.to_period("M").to_timestamp()
    outside = period.notna() & ((period < earliest) | (period > latest))
    expected = pd.Series(f"{rule['message']} ({latest:%Y-%m}); a future month cannot be reported", index=frame.index)
    _report(findings, rule, ctx, frame, outside, rule["column"], expected, display=lambda hit: hit[rule["column"]].dt.strftime("%Y-%m"))


@row_rule
def submitted_after_period(rule, ctx, findings):
    if ctx.period is None:
        return
    frame = ctx.tables[rule["table"]]
    submitted = frame[rule["column"]]
    early = submitted.notna() & (submitted.dt.normalize() < ctx.period_end)
    expected = pd.Series(f"{rule['message']} ({ctx.period_end:%Y-%m-%d}): sign the return off after the month ends", index=frame.index)
    _report(findings, rule, ctx, frame, early, rule["column"], expected)


# --- sums -------------------------------------------------------------------------


@row_rule
def sum_equals(rule, ctx, findings):
    frame = ctx.tables[rule["table"]]
    terms = frame[rule["terms"]]
    total = frame[rule["total"]]
    known = terms.notna().all(axis=1) & total.notna()
    added = terms.sum(axis=1)
    wrong = known & (added != total)
    detail = " + ".join(f"{t} {{}}" for t in rule["terms"])
    expected = pd.Series(
        [
            f"{rule['message']}: " + detail.format(*map(int, row)) + f" = {int(s)}, not {int(t)}"
            for row, s, t in zip(terms[wrong].to_numpy(), added[wrong], total[wrong])
        ],
        index=frame.index[wrong],
        dtype=object,
    ).reindex(frame.index)
    _report(findings, rule, ctx, frame, wrong, rule["total"], expected)


def breakdown_matches_total(rule, ctx, findings):
    """E.g. withdrawals by reason must add up to recruitment.applications_withdrawn."""
    if rule["total_table"] not in ctx.tables:
        return
    parts = ctx.tables[rule["table"]]
    totals = ctx.tables[rule["total_table"]]
    keys = rule["group_by"]
    summed = parts.dropna(subset=keys).groupby(keys, as_index=False)[rule["column"]].sum()
    totals = totals.dropna(subset=keys)[[*keys, rule["total_column"], ROW]]
    merged = totals.merge(summed, on=keys, how="outer", indicator=True)
    merged[rule["column"]] = merged[rule["column"]].fillna(0)
    total = merged[rule["total_column"]]
    wrong = (merged[rule["column"]] != total.fillna(0)) & (total.notna() | (merged["_merge"] == "right_only"))
    bad = merged[wrong]
    if bad.empty:
        return
    label = lambda r: " / ".join(str(r[k]) for k in keys)  # noqa: E731
    expected = [
        f"{rule['message']}: {rule['table']} for {label(r)} add up to {int(r[rule['column']])}, "
        f"{rule['total_table']}.{rule['total_column']} is {'missing' if pd.isna(r[rule['total_column']]) else int(r[rule['total_column']])}"
        for _, r in bad.iterrows()
    ]
    letters = ctx.letters.get(rule["total_table"], {})
    findings.add(
        rule["code"], rule["severity"], pd.Series(expected, index=bad.index),
        table=rule["total_table"], rows=bad[ROW].astype("Int64"), column=rule["total_column"],
        letter=letters.get(rule["total_column"]), values=bad[rule["total_column"]],
    )


# --- placements ---------------------------------------------------------------


@row_rule
def overlaps_period(rule, ctx, findings):
    if ctx.period is None:
        return
    frame = ctx.tables[rule["table"]]
    start, end = frame[rule["start"]], frame[rule["end"]]
    late = start.notna() & (start > ctx.period_end)
    early = end.notna() & (end < ctx.period)
    span = f" ({ctx.period:%Y-%m-%d} to {ctx.period_end:%Y-%m-%d})"
    expected = pd.Series(rule["message"] + span, index=frame.index)
    _report(findings, rule, ctx, frame, late, rule["start"], expected, display=lambda hit: _date(hit[rule["start"]]))
    _report(findings, rule, ctx, frame, early & ~late, rule["end"], expected, display=lambda hit: _date(hit[rule["end"]]))


@row_rule
def not_before(rule, ctx, findings):
    frame = ctx.tables[rule["table"]]
    column, other = frame[rule["column"]], frame[rule["other"]]
    wrong = column.notna() & other.notna() & (column < other)
    _report(findings, rule, ctx, frame, wrong, rule["column"], display=lambda hit: _date(hit[rule["column"]]))


@row_rule
def age_under(rule, ctx, findings):
    frame = ctx.tables[rule["table"]]
    birth, at = frame[rule["birth"]], frame[rule["at"]]
    had_birthday = (at.dt.month > birth.dt.month) | ((at.dt.month == birth.dt.month) & (at.dt.day >= birth.dt.day))
    age = at.dt.year - birth.dt.year - (~had_birthday).astype(int)
    too_old = birth.notna() & at.notna() & (age >= rule["years"])
    _report(findings, rule, ctx, frame, too_old, rule["birth"])


@row_rule
def no_overlap(rule, ctx, findings):
    """Placements of one child as half-open [start, end): a move on day X ends one and starts the next."""
    frame = ctx.tables[rule["table"]]
    entity, start, end = rule["entity"], rule["start"], rule["end"]
    spells = frame[[entity, start, end, ROW]].dropna(subset=[entity, start]).sort_values([entity, start, ROW])
    spells["_end"] = spells[end].fillna(FOREVER)
    group = spells.groupby(entity, sort=False)
    spells["_open_until"] = group["_end"].cummax().groupby(spells[entity], sort=False).shift()
    spells["_previous_row"] = group[ROW].shift()
    clash = spells["_open_until"].notna() & (spells[start] < spells["_open_until"])
    hit = spells[clash]
    expected = pd.Series(
        rule["message"] + ": this placement starts before the child's placement on row "
        + hit["_previous_row"].astype("Int64").astype(str) + " ends",
        index=hit.index,
    )
    findings.add(
        rule["code"], rule["severity"], expected, rows=hit[ROW],
        values=_date(hit[start]), **ctx.where(rule, start),
    )


def _categories(frame: pd.DataFrame, ctx: RuleContext) -> pd.Series:
    """Each placement's category: a provider-specific row first, else the any-provider row (once per return)."""
    key = ("categories", id(frame))
    if key not in ctx.cache:
        specific, general = reference.placement_category_lookup(ctx.reference_dir)
        types = frame["placement_type"].astype(object)
        pairs = types + "|" + frame["placement_provider"].astype(object)
        ctx.cache[key] = pairs.map(specific).fillna(types.map(general)).astype(object)
    return ctx.cache[key]


@row_rule
def maps_to_category(rule, ctx, findings):
    frame = ctx.tables[rule["table"]]
    known = frame[rule["columns"]].notna().all(axis=1)
    unmapped = known & _categories(frame, ctx).isna()
    _report(
        findings, rule, ctx, frame, unmapped, "placement_type",
        display=lambda hit: hit["placement_type"] + " with " + hit["placement_provider"],
    )


@row_rule
def code_valid_for_period(rule, ctx, findings):
    if ctx.period is None:
        return
    frame = ctx.tables[rule["table"]]
    mapping = reference.placement_categories(ctx.reference_dir)
    until = mapping[mapping["valid_until_period"] != ""].drop_duplicates("placement_type")
    last_month = frame[rule["column"]].map(dict(zip(until["placement_type"], until["valid_until_period"])))
    retired = last_month.notna() & (last_month < f"{ctx.period:%Y-%m}")
    if not retired.any():
        return
    expected = rule["message"] + " (last valid for " + last_month.fillna("") + "): use the code that replaced it (e.g. K3 for supported accommodation)"
    _report(findings, rule, ctx, frame, retired, rule["column"], expected)


@row_rule
def cost_in_range(rule, ctx, findings):
    frame = ctx.tables[rule["table"]]
    category = _categories(frame, ctx)
    ranges = reference.cost_ranges(ctx.reference_dir).set_index("category")
    low = category.map(ranges["min_weekly_cost"]).astype("float64")
    high = category.map(ranges["max_weekly_cost"]).astype("float64")
    cost = frame[rule["column"]]
    outside = cost.notna() & low.notna() & ((cost < low) | (cost > high))
    expected = lambda mask: (  # noqa: E731 - built only when a cost is out of range
        rule["message"] + " (expected £" + low[mask].map("{:,.0f}".format, na_action="ignore").fillna("")
        + " to £" + high[mask].map("{:,.0f}".format, na_action="ignore").fillna("") + " a week for " + category[mask].fillna("") + ")"
    ).reindex(frame.index)
    _report(findings, rule, ctx, frame, outside, rule["column"], expected)


RULES = {
    fn.__name__: fn
    for fn in (
        la_in_reference, known_return_version, period_in_range, submitted_after_period, sum_equals,
        breakdown_matches_total, overlaps_period, not_before, age_under, no_overlap, maps_to_category,
        code_valid_for_period, cost_in_range,
    )
}
