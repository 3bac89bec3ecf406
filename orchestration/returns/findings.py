"""Findings: what validation tells an LA about its return.

Findings are collected as whole columns at a time (one call may report ten
thousand bad rows), kept as a DataFrame, and written as JSON for machines and
HTML for people. A value in a personal-data column is never recorded.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

COLUMNS = ["code", "severity", "table", "row", "column", "column_letter", "value", "expected"]


def excel_letter(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


class Findings:
    """Accumulates findings; `add` takes scalars or aligned Series."""

    def __init__(self) -> None:
        self._parts: list[pd.DataFrame] = []

    def add(self, code, severity, expected, *, table=None, rows=None, column=None, letter=None, values=None):
        if isinstance(rows, pd.Series) and rows.empty:
            return
        n = len(rows) if isinstance(rows, pd.Series) else 1
        index = rows.index if isinstance(rows, pd.Series) else range(1)
        part = pd.DataFrame(
            {
                "code": code,
                "severity": severity,
                "table": table,
                "row": rows.values if isinstance(rows, pd.Series) else rows,
                "column": column,
                "column_letter": letter,
                "value": (values.reindex(index).values if isinstance(values, pd.Series) else values),
                "expected": (expected.reindex(index).values if isinstance(expected, pd.Series) else expected),
            },
            index=range(n),
        )
        self._parts.append(part)

    def extend(self, other: "Findings") -> None:
        self._parts.extend(other._parts)

    def frame(self) -> pd.DataFrame:
        if not self._parts:
            return pd.DataFrame({c: pd.Series(dtype="object") for c in COLUMNS})
        frame = pd.concat(self._parts, ignore_index=True)[COLUMNS]
        frame["row"] = pd.to_numeric(frame["row"], errors="coerce").astype("Int64")
        frame["value"] = frame["value"].map(_as_text, na_action="ignore")
        order = frame["severity"].map({"error": 0, "warning": 1})
        return frame.assign(_o=order).sort_values(["_o", "table", "row"], kind="stable", na_position="first").drop(columns="_o").reset_index(drop=True)

    def __bool__(self) -> bool:
        return bool(self._parts)


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
    clean = findings.astype(object).where(findings.notna(), None)
    return clean.to_dict(orient="records")


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
    """Write `<stem>.json` and `<stem>.html`; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    document = {
        "return": header.__dict__,
        "summary": {
            "errors": int((findings["severity"] == "error").sum()),
            "warnings": int((findings["severity"] == "warning").sum()),
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
<p>{summary['errors']} error(s), {summary['warnings']} warning(s). Rows are the row numbers you see in Excel (or the line numbers of the CSV file).</p>
<table><thead><tr><th>Severity</th><th>Code</th><th>Sheet</th><th>Row</th><th>Column</th><th>Excel column</th><th>Value found</th><th>What was expected</th></tr></thead>
<tbody>
{rows}
</tbody></table>
{_quality_html(document.get("quality_findings") or [])}
</body></html>
"""


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
