"""Findings: what validation tells an LA about its return.

Findings are collected as whole columns at a time (one call may report ten
thousand bad rows), kept as a DataFrame, and written as JSON for machines and
HTML for people. A value in a personal-data column is never recorded.

A list of fifty thousand findings helps no one (a file of garbage gives that
many), so at most `MAX_FINDINGS_PER_COLUMN` are listed for each problem (code
and severity) in each table and column: those of the first rows. One summary
finding after them says how many more there were.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

COLUMNS = ["code", "severity", "table", "row", "column", "column_letter", "value", "expected"]
MAX_FINDINGS_PER_COLUMN = 100  # findings listed per code, severity, table and column; then one summary finding
_KEY = ["code", "severity", "table", "column"]  # what the cap counts by
_SUMMARY = re.compile(r"^… and ([\d,]+) more ")  # the start of a summary finding's `expected`


def excel_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


class Findings:
    """Accumulates findings; `add` takes scalars or aligned Series.

    At most `max_per_column` findings (default `MAX_FINDINGS_PER_COLUMN`) are
    kept for each code, severity, table and column: those of the lowest rows,
    as the report sorts them. Each part is cut as it is added, so a column of a
    million bad cells costs no more than one of a hundred; the rest are only
    counted, and `frame()` finishes the cut (parts added separately, or merged
    by `extend`) and puts one summary finding after those listed.
    """

    def __init__(self, max_per_column: int | None = None) -> None:
        self.max_per_column = MAX_FINDINGS_PER_COLUMN if max_per_column is None else int(max_per_column)
        if self.max_per_column < 1:
            raise ValueError("max_per_column must be 1 or more")
        self._parts: list[pd.DataFrame] = []
        self._dropped: dict[tuple, int] = {}  # by key: findings counted but not kept
        self._kept: dict[tuple, tuple[int, float]] = {}  # by key: findings kept, and the highest row among them

    def add(self, code, severity, expected, *, table=None, rows=None, column=None, letter=None, values=None):
        """One finding (scalar `rows`), or one per row of a `rows` Series; `expected`, `values` and
        `letter` are scalars or Series aligned on `rows`' index."""
        series = isinstance(rows, pd.Series)
        if series and rows.empty:
            return
        key = (code, severity, table, column)
        order = _row_order(rows)
        keep = self._keep(key, order)
        if keep is None:
            return
        if series and len(keep) < len(rows):
            rows = rows.iloc[keep]
        n = len(rows) if series else 1
        index = rows.index if series else range(1)
        aligned = lambda v: v.reindex(index).values if isinstance(v, pd.Series) else v  # noqa: E731
        part = pd.DataFrame(
            {
                "code": code,
                "severity": severity,
                "table": table,
                "row": rows.values if series else rows,
                "column": column,
                "column_letter": aligned(letter),
                "value": aligned(values),
                "expected": aligned(expected),
            },
            index=range(n),
        )
        self._parts.append(part)

    def _keep(self, key: tuple, order: np.ndarray) -> np.ndarray | None:
        """Positions of the rows of a new part that may still be listed (None: none); the others are counted."""
        cap = self.max_per_column
        kept, highest = self._kept.get(key, (0, -np.inf))
        positions = np.arange(len(order))
        if kept >= cap:  # `cap` rows at or before `highest` are kept already: a row after it is never listed
            positions = positions[order < highest]
        if len(positions) > cap:
            chosen = order[positions]
            if (chosen[1:] >= chosen[:-1]).all():
                positions = positions[:cap]
            else:
                positions = np.sort(positions[np.argsort(chosen, kind="stable")[:cap]])
        if dropped := len(order) - len(positions):
            self._dropped[key] = self._dropped.get(key, 0) + dropped
        if not len(positions):
            return None
        self._kept[key] = (kept + len(positions), max(highest, float(order[positions].max())))
        return positions

    def extend(self, other: "Findings") -> None:
        self._parts.extend(other._parts)
        for key, n in other._dropped.items():
            self._dropped[key] = self._dropped.get(key, 0) + n
        for key, (n, highest) in other._kept.items():
            mine, mine_highest = self._kept.get(key, (0, -np.inf))
            self._kept[key] = (mine + n, max(mine_highest, highest))

    def frame(self) -> pd.DataFrame:
        if not self._parts:
            return pd.DataFrame({c: pd.Series(dtype="object") for c in COLUMNS})
        frame = pd.concat(self._parts, ignore_index=True)[COLUMNS]
        frame["row"] = pd.to_numeric(frame["row"], errors="coerce").astype("Int64")
        frame["value"] = frame["value"].map(_as_text, na_action="ignore")
        order = frame["severity"].map({"error": 0, "warning": 1})
        frame = frame.assign(_o=order).sort_values(["_o", "table", "row"], kind="stable", na_position="first").drop(columns="_o").reset_index(drop=True)
        return self._capped(frame)

    def _capped(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The sorted findings cut to `max_per_column` per key, each cut followed by its summary finding."""
        keys = list(zip(*(_plain(frame[c]) for c in _KEY)))
        seen: dict[tuple, int] = {}
        listed = np.ones(len(frame), dtype=bool)
        last: dict[tuple, int] = {}  # by key: the position of its last finding listed
        for i, key in enumerate(keys):
            seen[key] = seen.get(key, 0) + 1
            if seen[key] > self.max_per_column:
                listed[i] = False
            else:
                last[key] = i
        dropped = dict(self._dropped)
        for key, n in seen.items():
            if n > self.max_per_column:
                dropped[key] = dropped.get(key, 0) + n - self.max_per_column
        if not dropped:
            return frame
        rows = _plain(frame["row"])
        summaries, places = [], []
        for key, n in dropped.items():
            at = last[key]
            same_row = {rows[i] for i, k in enumerate(keys) if k == key and listed[i]}
            noun = "columns" if len(same_row) == 1 and None not in same_row and self.max_per_column > 1 else "rows"
            code, severity, table, column = key
            summaries.append(
                {
                    "code": code, "severity": severity, "table": table, "row": None, "column": column,
                    "column_letter": frame.at[at, "column_letter"], "value": None,
                    "expected": _summary_text(n, noun, table, column, self.max_per_column),
                }
            )
            places.append(at + 0.5)
        extra = pd.DataFrame(summaries, columns=COLUMNS).astype({"row": "Int64"})
        out = pd.concat([frame[listed].assign(_p=np.flatnonzero(listed).astype(float)), extra.assign(_p=places)], ignore_index=True)
        return out.sort_values("_p", kind="stable").drop(columns="_p").reset_index(drop=True)

    def __bool__(self) -> bool:
        return bool(self._parts)


def _row_order(rows) -> np.ndarray:
    """The rows as the report sorts them: numbers, a finding without a row first."""
    if isinstance(rows, pd.Series):
        numbers = pd.to_numeric(rows, errors="coerce")
        return numbers.to_numpy(dtype=float, na_value=-np.inf)
    try:
        number = float(rows)
    except (TypeError, ValueError):
        return np.array([-np.inf])
    return np.array([-np.inf if number != number else number])


def _plain(column: pd.Series) -> list:
    """The column's values as Python objects, None for every kind of missing."""
    return [None if v is None or (not isinstance(v, str) and pd.isna(v)) else v for v in column.tolist()]


def _summary_text(n: int, noun: str, table, column, listed: int) -> str:
    what = ("row" if noun == "rows" else "column") if n == 1 else noun
    where = f" of '{table}'" if table else ""
    within = f" in {column}" if column else ""
    return (
        f"… and {n:,} more {what}{where} with this problem{within} (only the first {listed:,} are listed): "
        "fix the pattern, then validate again"
    )


def not_listed(findings: pd.DataFrame) -> int:
    """How many findings the summary findings of `findings` stand for (0: the list is complete)."""
    if findings.empty:
        return 0
    summary = findings["row"].isna() & findings["value"].isna()
    counts = findings.loc[summary, "expected"].astype(str).str.extract(_SUMMARY, expand=False).dropna()
    return int(counts.str.replace(",", "").astype(int).sum())


def _as_text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d") if value == value.normalize() else value.isoformat(sep=" ")
    return str(value)


@dataclass
class ReportHeader:
    """What a findings report says about the return it belongs to."""

    source: str
    checksum: str
    status: str
    la_code: str | None
    la_name: str | None
    period: str | None
    received_at: str
    contract_version: str | None


def as_records(findings: pd.DataFrame) -> list[dict]:
    """The findings as plain Python values, a missing one as None, built column by column
    (pandas' whole-frame passes cost more than the few findings of a typical return)."""
    columns = {name: _plain(findings[name]) for name in findings.columns}
    return [dict(zip(columns, values)) for values in zip(*columns.values())]


def describe(finding: dict) -> str:
    """One finding as one line an analyst can act on."""
    where = []
    if finding.get("table"):
        where.append(f"sheet '{finding['table']}'")
    if finding.get("row") is not None:
        where.append(f"row {finding['row']}")
    if finding.get("column"):
        letter = f" ({finding['column_letter']})" if finding.get("column_letter") else ""
        where.append(f"column {finding['column']}{letter}")
    place = ", ".join(where) or "the file"
    found = f" Found: {finding['value']!s}." if finding.get("value") not in (None, "") else ""
    return f"{finding['severity'].upper():7} {finding['code']}: {place}.{found} {finding['expected']}"


def write_reports(header: ReportHeader, findings: pd.DataFrame, folder: Path, stem: str) -> dict[str, Path]:
    """Write `<stem>.json` and `<stem>.html`; return their paths.

    The counts are of the findings listed. When the list was cut (see `Findings`), the summary
    says so: `truncated` and `not_listed`, the number of findings the summary findings stand for.
    """
    folder.mkdir(parents=True, exist_ok=True)
    hidden = not_listed(findings)
    document = {
        "return": header.__dict__,
        "summary": {
            "errors": int((findings["severity"] == "error").sum()),
            "warnings": int((findings["severity"] == "warning").sum()),
            "truncated": hidden > 0,
            "not_listed": hidden,
        },
        "findings": as_records(findings),
        "quality_findings": [],
    }
    paths = {"json": folder / f"{stem}.json", "html": folder / f"{stem}.html"}
    _write(document, paths["json"], paths["html"])
    return paths


def add_quality_findings(json_path: Path, html_path: Path, quality: list[dict], keep: frozenset[str] = frozenset()) -> None:
    """Put the quality gate's findings about this LA's data into its return's report.

    `quality` holds {"period", "check", "message", "blocking", "suite"} dicts; they replace the
    previous gate's, so re-running the gate never piles up old findings. The earlier findings of
    the suites in `keep` (those a gate did not re-check for this return's month) stay instead, as
    do findings written before they named their suite.
    """
    document = json.loads(Path(json_path).read_text(encoding="utf-8"))
    if keep:
        kept = [q for q in document.get("quality_findings", []) if "suite" not in q or q["suite"] in keep]
        quality = kept + [q for q in quality if q.get("suite") not in keep]
    if document.get("quality_findings", []) == quality:
        return  # unchanged: a national history has tens of thousands of reports, rewritten for nothing
    document["quality_findings"] = quality
    _write(document, Path(json_path), Path(html_path))


def _write(document: dict, json_path: Path, html_path: Path) -> None:
    json_path.write_text(json.dumps(document, indent=2, default=str), encoding="utf-8")
    html_path.write_text(_html(document), encoding="utf-8")


_ESC = lambda v: "" if v is None else html.escape(str(v))  # noqa: E731
_VERDICT = {
    "accepted": "Accepted: the return was loaded.",
    "accepted_with_warnings": "Accepted with warnings: the return was loaded; please check the warnings below.",
    "rejected": "Rejected: nothing from this return was loaded. Please correct the errors below and submit it again.",
}


def _html(document: dict) -> str:
    esc = _ESC
    header, summary, records = document["return"], document["summary"], document["findings"]
    rows = "\n".join(
        f"<tr class='{esc(r['severity'])}'><td>{esc(r['severity'])}</td><td>{esc(r['code'])}</td><td>{esc(r['table'])}</td>"
        f"<td>{esc(r['row'])}</td><td>{esc(r['column'])}</td><td>{esc(r['column_letter'])}</td>"
        f"<td>{esc(r['value'])}</td><td>{esc(r['expected'])}</td></tr>"
        for r in records
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Return findings: {esc(header['la_name'] or header['la_code'])} {esc(header['period'])}</title>
<style>
body{{font-family:system-ui,Arial,sans-serif;margin:2rem;color:#1b1b1b}} table{{border-collapse:collapse;width:100%}}
th,td{{border:1px solid #bbb;padding:.3rem .5rem;text-align:left;vertical-align:top}} th{{background:#eee}}
tr.error td:first-child{{color:#a00;font-weight:bold}} tr.warning td:first-child{{color:#8a5a00;font-weight:bold}}
.status{{font-size:1.1rem;font-weight:bold}}
</style></head><body>
<h1>Monthly fostering return: findings</h1>
<dl>
<dt>Local authority</dt><dd>{esc(header['la_name'] or header['la_code'] or "not known (see findings)")}</dd>
<dt>Period</dt><dd>{esc(header['period'] or "not known (see findings)")}</dd>
<dt>File</dt><dd>{esc(header['source'])} (SHA-256 {esc(header['checksum'])})</dd>
<dt>Received</dt><dd>{esc(header['received_at'])}</dd>
<dt>Contract version</dt><dd>{esc(header['contract_version'])}</dd>
</dl>
<p class="status">{esc(_VERDICT.get(header['status'], header['status']))}</p>
{_truncated_html(summary)}<p>{summary['errors']} error(s), {summary['warnings']} warning(s). Rows are the row numbers you see in Excel (or the line numbers of the CSV file).</p>
<table><thead><tr><th>Severity</th><th>Code</th><th>Sheet</th><th>Row</th><th>Column</th><th>Excel column</th><th>Value found</th><th>What was expected</th></tr></thead>
<tbody>
{rows}
</tbody></table>
{_quality_html(document.get("quality_findings") or [])}
</body></html>
"""


def _truncated_html(summary: dict) -> str:
    """A sentence saying the list was cut, when it was (reports written before the cap have no `not_listed`)."""
    hidden = summary.get("not_listed") or 0
    if not hidden:
        return ""
    return (
        f"<p class=\"truncated\"><strong>This list is not complete: {hidden:,} more finding(s) are not listed.</strong> "
        "When the same problem is in many rows of a column, only the first are listed, followed by a line saying "
        "how many more there are. Fix the problems listed, then validate the return again to see what is left.</p>\n"
    )


def _quality_html(quality: list[dict]) -> str:
    """The quality gate's findings: checks across months and sheets that validation cannot make."""
    if not quality:
        return ""
    esc = _ESC
    rows = "\n".join(
        f"<tr class='{'error' if q.get('blocking') else 'warning'}'><td>{'error' if q.get('blocking') else 'warning'}</td>"
        f"<td>{esc(q.get('period'))}</td><td>{esc(q.get('check'))}</td><td>{esc(q.get('message'))}</td></tr>"
        for q in quality
    )
    return f"""<h2>Quality checks across your returns</h2>
<p>After loading, the pipeline compares your returns with each other and over time. These findings do not reject the return, but please check them: they usually mean a figure needs correcting in a resubmission.</p>
<table><thead><tr><th>Severity</th><th>Period</th><th>Check</th><th>What we found</th></tr></thead>
<tbody>
{rows}
</tbody></table>"""
