"""Tell each LA what the quality gate found in its data, in its own findings report.

Validation sees one return at a time; the gate sees them side by side (stock
against flows, month-on-month swings, one sheet against another). Its findings
about an LA go into the report of that LA's current return for the month they
concern (or, for a month with no return, its latest), replacing the previous
gate's findings so re-running never piles them up.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from orchestration.returns.findings import add_quality_findings
from orchestration.warehouse import connect


def deliver_feedback(outcomes, warehouse: Path, data_dir: Path, staged: list[str] | None = None) -> int:
    """Write the gate's per-LA messages into the current returns' reports; return how many were delivered.

    `staged` ([first, last] month) when the staging and monthly marts' suites checked only those
    months: a report of another month keeps the findings an earlier gate's run of those suites gave it. The ledger stores report
    paths relative to the data folder.
    """
    with connect(warehouse, read_only=True) as con:
        reports = con.execute(
            """
            SELECT la_code, strftime(period, '%Y-%m') AS period, findings_json, findings_html
            FROM ops.submissions WHERE is_current ORDER BY la_code, period
            """
        ).fetchall()
    by_month = {(la, period): (js, ht) for la, period, js, ht in reports}
    latest = {la: (js, ht) for la, _, js, ht in reports}  # ordered by period: the last one wins
    delivered: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for suite in outcomes:
        for outcome in suite.outcomes:
            for message in outcome.messages:
                la, period = message.get("la_code"), message.get("period")
                target = by_month.get((la, period)) or latest.get(la)
                if target:
                    delivered[target].append({
                        "period": period, "check": outcome.protects, "message": message["message"],
                        "blocking": outcome.blocking, "suite": outcome.suite,
                    })
    unchecked = {
        (js, ht) for _, period, js, ht in reports if staged and not staged[0][:7] <= period <= staged[1][:7]
    }
    partial = frozenset(s.suite for s in outcomes if s.months)  # the suites checked on those months only
    for js, ht in {(js, ht) for _, _, js, ht in reports}:
        if js and (data_dir / js).exists():
            keep = partial if (js, ht) in unchecked else frozenset()
            add_quality_findings(data_dir / js, data_dir / ht, delivered.get((js, ht), []), keep=keep)
    return sum(len(v) for v in delivered.values())
