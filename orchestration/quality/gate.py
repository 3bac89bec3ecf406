"""Run the quality gate's Great Expectations suites on the warehouse.

A suite is a GX 1.x suite in expectations/<name>.json whose `meta` says which Dagster
asset it checks (`asset`), the SQL that reads the rows to check (`query`, a string or a
list of lines; it may add derived check columns) and the columns that identify a row
(`keys`). Each expectation's `meta` says what it `protects`, whether a failure is
`blocking` (an error: no publish) or not (a warning), and for a finding an LA can act
on, a `message`: a `str.format` template filled from the failing row's columns, the
gate parameters, and `{month}` (the row's period as YYYY-MM).
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib
import json
import os
import string
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb
import pandas as pd

from orchestration.dbt_project import MANIFEST_PATH
from orchestration.warehouse import connect

# Read when great_expectations is imported: it is imported lazily (below), so that loading
# the suites, as the Dagster definitions do, costs no GX import.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

DATASOURCE = "quality_gate"
MAX_FAILING_KEYS = 50


@dataclass(frozen=True)
class Suite:
    name: str
    asset_key: list[str]
    query: str
    keys: list[str]
    raw: dict = field(repr=False)

    @property
    def placeholders(self) -> list[str]:
        """The fields its message templates use, in order of first use."""
        templates = [e["meta"]["message"] for e in self.raw["expectations"] if e["meta"].get("message")]
        fields = (f for t in templates for _, f, _, _ in string.Formatter().parse(t) if f)
        return list(dict.fromkeys(f.split(".")[0].split("[")[0] for f in fields))


@dataclass
class ExpectationOutcome:
    suite: str
    expectation: str
    column: str | None
    protects: str
    blocking: bool
    success: bool
    unexpected_count: int
    failing_keys: list[dict]  # key columns of failing rows, at most MAX_FAILING_KEYS
    messages: list[dict]  # [{"la_code", "period": "YYYY-MM", "message"}], one per failing row
    exception: str | None = None  # GX could not evaluate the expectation (e.g. a missing column)


@dataclass
class SuiteOutcome:
    suite: str
    asset_key: list[str]
    rows: int
    outcomes: list[ExpectationOutcome]
    months: list[str] | None = None  # [first, last] when only these months were checked (the rest carried)

    @property
    def errors(self) -> int:
        return sum(1 for o in self.outcomes if o.blocking and not o.success)

    @property
    def warnings(self) -> int:
        return sum(1 for o in self.outcomes if not o.blocking and not o.success)

    @property
    def passed(self) -> bool:
        return self.errors == 0


def load_suites(folder: Path | None = None) -> list[Suite]:
    """Every suite in the expectations folder (settings.expectations_dir by default), by file name."""
    if folder is None:
        from orchestration.settings import load_settings

        folder = load_settings().expectations_dir
    suites = []
    for path in sorted(Path(folder).glob("*.json")):
        raw = json.loads(path.read_text(encoding="utf-8"))
        meta = raw["meta"]
        query = meta["query"] if isinstance(meta["query"], str) else "\n".join(meta["query"])
        suites.append(Suite(raw["name"], list(meta["asset"]), query, list(meta["keys"]), raw))
    return suites


def gate_parameters(settings) -> dict:
    """The values of the suites' {"$PARAMETER": ...} placeholders."""
    from orchestration.reference import local_authorities

    return {
        "swing_threshold": settings.swing_threshold,
        "swing_min_change": settings.swing_min_change,
        "places_tolerance": settings.places_tolerance,
        "la_codes": sorted(local_authorities(settings.reference_dir)["gss_code"]),
    }


# A suite reads at most about this many rows at a time: GX's pandas engine holds several copies
# of a batch: a national history's 10 million placement rows at once needed 13.5 GB, a million 3.7 GB.
ROWS_PER_BATCH = 500_000
_UNIQUE = ("expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique")


def run_gate(
    warehouse: Path, settings, suites: list[Suite] | None = None, rows_per_batch: int = ROWS_PER_BATCH,
    months: tuple[dt.date, dt.date] | None = None, previous: list[dict] | None = None,
) -> list[SuiteOutcome]:
    """Run every suite in one read-only DuckDB session and one GX context.

    A suite with more rows than `rows_per_batch` is run on consecutive ranges of months and its
    outcomes added up, which gives exactly the whole suite's verdict because every expectation
    looks at one row at a time, or at uniqueness within keys that include the month (a suite with
    any other kind is run whole).

    `months` (first, last) are the months a run rebuilt. The staging suites, and the suites of
    marts built by month, then check only their rows: the other months' rows have not changed since
    an earlier gate checked them, and that gate's failures outside these months (`previous`: its
    summaries, as in latest.json) are carried forward, so a known failure still blocks. When the
    months cover every month staged, or none are given, every suite checks everything (which is
    also what clears a carried failure).
    """
    suites = load_suites(settings.expectations_dir) if suites is None else suites
    context, parameters = gx_context(), gate_parameters(settings)
    with connect(warehouse, read_only=True) as con:
        for name, value in parameters.items():  # a suite's query reads a parameter as getvariable('name')
            con.execute(f"SET VARIABLE {name} = ?", [value])
        months = months if months and not _covers_every_month(con, months) else None
        before = {s["suite"]: s for s in previous or []}
        outcomes = []
        for suite in suites:
            only = months if checked_by_month(suite) else None
            frames = _batches(con, suite, rows_per_batch, only)
            outcome = _merged([run_suite(suite, frame, parameters, context=context) for frame in frames])
            outcomes.append(_carried(outcome, before.get(suite.name), only) if only else outcome)
        return outcomes


def checked_by_month(suite: Suite) -> bool:
    """Whether a run limited to some months checks the suite on those months only.

    A staged table's rows are per return, so only the months a run rebuilt can have changed. So can
    only those of a mart built by month (an incremental dbt model), where the suite's verdict is the
    sum of its months' (`_by_month`). A mart rebuilt whole every run (mart_submission_status,
    whose lateness changes with the day) is checked whole.
    """
    layer, name = suite.asset_key[0], suite.asset_key[-1]
    return layer == "staging" or (layer == "marts" and name in monthly_models() and _by_month(suite))


@functools.cache
def monthly_models() -> frozenset[str]:
    """The dbt models built by month (incremental), from the dbt manifest."""
    nodes = json.loads(MANIFEST_PATH.read_text(encoding="utf-8"))["nodes"].values()
    return frozenset(n["name"] for n in nodes if n["resource_type"] == "model" and n["config"].get("materialized") == "incremental")


def staged_months(outcomes: list[SuiteOutcome]) -> list[str] | None:
    """The months the staging and monthly marts' suites checked ([first, last]), or None for every month."""
    return next((o.months for o in outcomes if o.months), None)


def _covers_every_month(con, months: tuple[dt.date, dt.date]) -> bool:
    first, last = con.execute("SELECT min(period), max(period) FROM staging.stg_submission").fetchone()
    return first is None or (months[0] <= first and last <= months[1])


def _carried(outcome: SuiteOutcome, before: dict | None, months: tuple[dt.date, dt.date]) -> SuiteOutcome:
    """A suite checked on some months only, with the earlier gate's failures in the other months added.

    A failing row whose month is known and outside `months` is carried. Failures beyond the keys the
    summary kept (it keeps a few) could be in any month, so their count is carried too, less the
    kept keys that were re-checked: a carried failure errs on the side of blocking.
    """
    first, last = (m.isoformat() for m in months)
    earlier = {(f["expectation"], f["column"], f["protects"]): f for f in (before or {}).get("failed", [])}
    outcomes = []
    for o in outcome.outcomes:
        f = earlier.get((o.expectation, o.column, o.protects))
        if f:
            inside = [k for k in f["failing_keys"] if first <= str(k.get("period"))[:10] <= last]
            carried = f["unexpected_count"] - len(inside)
            if carried > 0:
                outside = [k for k in f["failing_keys"] if k not in inside]
                o = replace(
                    o, success=False, unexpected_count=o.unexpected_count + carried,
                    failing_keys=(o.failing_keys + outside)[:MAX_FAILING_KEYS],
                )
        outcomes.append(o)
    return replace(outcome, outcomes=outcomes, months=[first, last])


def _by_month(suite: Suite) -> bool:
    """Whether the suite's verdict is the sum of its verdicts on ranges of months."""
    for e in suite.raw["expectations"]:
        if e["type"] in _UNIQUE and "period" not in e["kwargs"].get("column_list", [e["kwargs"].get("column")]):
            return False
    return True


def _batches(con, suite: Suite, rows_per_batch: int, only: tuple[dt.date, dt.date] | None = None):
    """The suite's rows (of the months `only`, if given): all at once, or a range of months at a time
    (rows without a month last)."""
    rows = f"SELECT * FROM ({suite.query})" + (" WHERE period BETWEEN ? AND ?" if only else "")
    params = list(only) if only else []
    counts = None
    if _by_month(suite):
        try:
            counts = con.execute(f"SELECT period, count(*) FROM ({rows}) GROUP BY period ORDER BY period NULLS LAST", params).fetchall()
        except duckdb.Error:  # no period column: the suite is read whole
            counts = None
    if not counts or sum(n for _, n in counts) <= rows_per_batch:
        yield con.execute(rows, params).df()
        return
    ranges, first, last, size = [], None, None, 0
    for period, n in counts:
        if period is None:
            continue
        if first is not None and size + n > rows_per_batch:
            ranges.append((first, last))
            first, size = None, 0
        first, last, size = first or period, period, size + n
    if first is not None:
        ranges.append((first, last))
    for start, end in ranges:
        yield con.execute(f"SELECT * FROM ({rows}) WHERE period BETWEEN ? AND ?", [*params, start, end]).df()
    if counts[-1][0] is None:
        yield con.execute(f"SELECT * FROM ({rows}) WHERE period IS NULL", params).df()


def _merged(parts: list[SuiteOutcome]) -> SuiteOutcome:
    """One suite's outcome from its outcomes on several batches of rows."""
    if len(parts) == 1:
        return parts[0]
    outcomes = []
    for same in zip(*(p.outcomes for p in parts)):
        first = same[0]
        outcomes.append(ExpectationOutcome(
            suite=first.suite, expectation=first.expectation, column=first.column, protects=first.protects,
            blocking=first.blocking, success=all(o.success for o in same),
            unexpected_count=sum(o.unexpected_count for o in same),
            failing_keys=[k for o in same for k in o.failing_keys][:MAX_FAILING_KEYS],
            messages=[m for o in same for m in o.messages],
            exception=next((o.exception for o in same if o.exception), None),
        ))
    return SuiteOutcome(parts[0].suite, parts[0].asset_key, sum(p.rows for p in parts), outcomes)


def run_suite(suite: Suite, frame: pd.DataFrame, parameters: dict, *, context=None) -> SuiteOutcome:
    context = context or gx_context()
    frame = _for_gx(frame)
    index_columns = [c for c in dict.fromkeys([*suite.keys, *suite.placeholders]) if c in frame.columns]
    result = _batch(context, suite.name, frame).validate(
        gx_suite(suite.raw),
        expectation_parameters=parameters,
        result_format={"result_format": "COMPLETE", "unexpected_index_column_names": index_columns},
    )
    results = sorted(result.results, key=lambda r: r.expectation_config.meta["position"])
    outcomes = [_outcome(suite, r, parameters, set(frame.columns)) for r in results]
    return SuiteOutcome(suite.name, suite.asset_key, len(frame), outcomes)


def import_gx_in_background() -> threading.Thread:
    """Start importing Great Expectations on a daemon thread, and return the thread.

    GX takes 3-7 s to import, and the gate is the first to need it. A run that will gate
    calls this before its dbt builds, while the process does little but wait on dbt, so
    the import is off the run's critical path. `gx_context` imports GX as usual: Python's
    import lock makes it wait for the thread if the import is still under way.
    """
    thread = threading.Thread(target=importlib.import_module, args=("great_expectations",), name="import-gx", daemon=True)
    thread.start()
    return thread


def gx_context():
    """An ephemeral GX context with one pandas data source and its progress bars off."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    context.data_sources.add_pandas(DATASOURCE)
    return context


def gx_suite(raw: dict):
    """The GX ExpectationSuite of a suite's JSON. Each expectation is built on its own because
    ExpectationSuite(**raw) only logs an invalid one and leaves it out: here it raises."""
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    expectations = [
        ExpectationConfiguration(type=e["type"], kwargs=e["kwargs"], meta={**e["meta"], "position": i}).to_domain_obj()
        for i, e in enumerate(raw["expectations"])
    ]
    return gx.ExpectationSuite(name=raw["name"], expectations=expectations, meta=raw.get("meta", {}))


def _batch(context, name: str, frame: pd.DataFrame):
    source = context.data_sources.get(DATASOURCE)
    if any(asset.name == name for asset in source.assets):
        source.delete_asset(name)
    definition = source.add_dataframe_asset(name).add_batch_definition_whole_dataframe("whole")
    return definition.get_batch(batch_parameters={"dataframe": frame})


def _for_gx(frame: pd.DataFrame) -> pd.DataFrame:
    """A unique index (GX finds failing rows by index) and text as Python str objects: GX 1.24
    knows no pandas 3 `str` dtype, but type-checks object columns value by value."""
    text = [c for c, t in frame.dtypes.items() if isinstance(t, pd.StringDtype)]
    return frame.reset_index(drop=True).astype(dict.fromkeys(text, object))


def _outcome(suite: Suite, result, parameters: dict, columns: set[str]) -> ExpectationOutcome:
    config, found = result.expectation_config, result.result or {}
    kwargs, meta = config.kwargs, config.meta
    column = _column(kwargs)
    missing = [c for c in (column or "").split(",") if c and c not in columns]
    failing = [r for r in found.get("unexpected_index_list") or [] if isinstance(r, dict)]
    keys = [k for k in suite.keys if failing and k in failing[0]]
    template = meta.get("message")
    return ExpectationOutcome(
        suite=suite.name,
        expectation=config.type,
        column=column,
        protects=meta["protects"],
        blocking=bool(meta["blocking"]),
        success=bool(result.success),
        unexpected_count=int(found.get("unexpected_count") or 0),
        failing_keys=[{k: _plain(row[k]) for k in keys} for row in failing[:MAX_FAILING_KEYS]],
        messages=[_message(template, row, parameters) for row in failing] if template and not result.success else [],
        # GX's own message for a missing column is "list index out of range"
        exception=f"no column {', '.join(missing)} in the suite's rows" if missing else _exception(result.exception_info or {}),
    )


def _column(kwargs: dict) -> str | None:
    if "column" in kwargs:
        return kwargs["column"]
    if "column_list" in kwargs:
        return ",".join(kwargs["column_list"])
    if "column_A" in kwargs:
        return f"{kwargs['column_A']},{kwargs['column_B']}"
    return None


def _message(template: str, row: dict, parameters: dict) -> dict:
    month = _month(row.get("period"))
    return {"la_code": row.get("la_code"), "period": month, "message": template.format_map({**parameters, **row, "month": month})}


def _month(value) -> str | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).strftime("%Y-%m")


def _plain(value):
    """A JSON-ready key value: dates as ISO strings, numpy scalars as Python ones, missing as None."""
    if value is None or (not isinstance(value, (list, dict)) and pd.isna(value)):
        return None
    if isinstance(value, (pd.Timestamp, dt.datetime, dt.date)):
        value = pd.Timestamp(value)
        return value.date().isoformat() if value == value.normalize() else value.isoformat()
    return value.item() if hasattr(value, "item") else value


def _exception(info: dict) -> str | None:
    infos = [info] if "raised_exception" in info else list(info.values())
    raised = [i for i in infos if isinstance(i, dict) and i.get("raised_exception")]
    return (raised[0].get("exception_message") or "raised an exception") if raised else None
