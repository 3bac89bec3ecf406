"""How published numbers and times look: doubles rounded per class, timestamps to the second.

Why: a BI tool compares files by their bytes, and people compare figures by their digits.
The warehouse's doubles carry the noise of floating-point sums (a rebuild adds in another
thread order, decision P7), so unrounded files changed with every backfill and a publish of
unchanged data made a new version. The rules are data (``rounding.yaml`` next to this file):
each DOUBLE column of each mart is money (2 dp), a ratio (4 dp) or a quantity (2 dp), and
mart_benchmark's values follow their metric's source column. A DOUBLE column with no class
stops the publish. Rounding is half to even, on whole columns (numpy), after disclosure
control and before the content digest (writer.py). Timestamps are truncated to the second and
published as UTC (the pipeline's clock) or as written (an LA's local sign-off time); in
Parquet, whose smallest time unit above none is the millisecond, as timestamp[ms] of whole seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
import pyarrow as pa

from orchestration.publish.disclosure import Rules as DisclosureRules
from orchestration.publish.disclosure import load_rules as load_disclosure_rules

ROUNDING_PATH = Path(__file__).with_name("rounding.yaml")
TIME_ZONES = ("utc", "local")


class RoundingError(ValueError):
    """A column the publish does not know how to show (a DOUBLE with no class, an unknown metric...)."""


@dataclass(frozen=True)
class RoundingRules:
    places: Mapping[str, int]  # class -> decimal places
    columns: Mapping[str, Mapping[str, str]]  # mart -> column -> class
    by_metric_mart: str
    by_metric_columns: tuple[str, ...]
    metric_column: str  # the benchmark's column naming the metric of each row
    metric_class: Mapping[str, str]  # benchmark metric -> class of its source column
    times: Mapping[str, Mapping[str, str]]  # mart -> timestamp column -> utc | local
    source: Path

    def class_of(self, mart: str, column: str) -> str | None:
        """The rounding class of a column ('by metric' for mart_benchmark's values), or None."""
        if mart == self.by_metric_mart and column in self.by_metric_columns:
            return "by_metric"
        return self.columns.get(mart, {}).get(column)

    def describe(self, mart: str, column: str) -> str:
        """The rounding of a column as the data dictionary states it ('' when none applies)."""
        kind = self.class_of(mart, column)
        if kind == "by_metric":
            return "by metric: " + ", ".join(f"{c} {self.places[c]} dp" for c in sorted(set(self.metric_class.values())))
        if kind is not None:
            return f"{kind} {self.places[kind]} dp"
        zone = self.times.get(mart, {}).get(column)
        if zone == "utc":
            return "to the second, UTC"
        if zone == "local":
            return "to the second, as written (no time zone)"
        return ""


def load_rules(path: Path | None = None, disclosure: DisclosureRules | None = None) -> RoundingRules:
    return _load(Path(path or ROUNDING_PATH).resolve(), (disclosure or load_disclosure_rules()).source)


@lru_cache(maxsize=None)
def _load(path: Path, disclosure_path: Path) -> RoundingRules:
    import yaml

    disclosure = load_disclosure_rules(disclosure_path)
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    places = {str(k): int(v) for k, v in raw["classes"].items()}
    columns: dict[str, dict[str, str]] = {}
    for mart, spec in (raw.get("marts") or {}).items():
        columns[mart] = {}
        for kind, names in spec.items():
            if kind not in places:
                raise RoundingError(f"{path}: {mart} uses the rounding class {kind!r}, which is not one of {', '.join(places)}")
            for name in names:
                if name in columns[mart]:
                    raise RoundingError(f"{path}: {mart}.{name} has more than one rounding class")
                columns[mart][name] = kind
    by_metric = raw["by_metric"]
    metric_class = {}
    for metric, src in disclosure.benchmark.sources.items():
        kind = columns.get(src.mart, {}).get(src.column)
        if kind is None:
            raise RoundingError(f"{path}: benchmark metric {metric} comes from {src.mart}.{src.column}, which has no rounding class")
        metric_class[metric] = kind
    times = {m: {c: zone for zone in TIME_ZONES for c in (spec.get(zone) or ())} for m, spec in (raw.get("timestamps") or {}).items()}
    return RoundingRules(places, columns, by_metric["mart"], tuple(by_metric["columns"]), disclosure.benchmark.metric_column,
                         metric_class, times, path)


def published_schema(name: str, schema: pa.Schema, rules: RoundingRules | None = None) -> pa.Schema:
    """The mart's schema as published: timestamps in seconds, UTC-labelled where they are UTC.

    Refuses a DOUBLE or TIMESTAMP column with no rule, in a sentence naming every one.
    """
    rules = rules or load_rules()
    missing, fields = [], []
    for f in schema:
        if pa.types.is_floating(f.type) and rules.class_of(name, f.name) is None:
            missing.append(f"{name}.{f.name} (a DOUBLE: money, ratio or quantity?)")
        if pa.types.is_timestamp(f.type):
            zone = rules.times.get(name, {}).get(f.name)
            if zone is None:
                missing.append(f"{name}.{f.name} (a TIMESTAMP: utc or local?)")
            # Parquet has no unit of seconds: milliseconds, always whole seconds (round_frame truncates)
            f = f.with_type(pa.timestamp("ms", tz="UTC" if zone == "utc" else None))
        fields.append(f)
    if missing:
        raise RoundingError(
            f"the publish stopped because it does not know how to show {', '.join(missing)}: "
            f"classify each in {rules.source} so nothing is published unrounded"
        )
    return pa.schema(fields)


def round_frame(name: str, frame: pd.DataFrame, schema: pa.Schema, rules: RoundingRules | None = None) -> pd.DataFrame:
    """A copy of a disclosed mart with its doubles rounded and its timestamps cut to the second.

    `schema` is the published schema (`published_schema`); the frame passed in is not changed.
    """
    rules = rules or load_rules()
    out = frame.copy()
    for f in schema:
        if f.name not in out.columns:
            continue
        if pa.types.is_floating(f.type):
            kind = rules.class_of(name, f.name)
            if kind == "by_metric":
                out[f.name] = _round_by_metric(out, f.name, rules)
            else:
                out[f.name] = _round(out[f.name], rules.places[kind])
        elif pa.types.is_timestamp(f.type):
            stamps = pd.to_datetime(out[f.name]).dt.floor("s")
            if f.type.tz is not None and stamps.dt.tz is None:
                stamps = stamps.dt.tz_localize("UTC")
            out[f.name] = stamps
    return out


def _round(values: pd.Series, places: int) -> pd.Series:
    """Half to even on the whole column; + 0.0 turns a rounded -0.0 into 0.0 (noise around zero)."""
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    return pd.Series(np.round(numbers, places) + 0.0, index=values.index, name=values.name)


def _round_by_metric(frame: pd.DataFrame, column: str, rules: RoundingRules) -> pd.Series:
    """mart_benchmark's values: each metric's rows to the places of the metric's source column."""
    metric = frame[rules.metric_column]
    unknown = sorted(set(metric.dropna()) - set(rules.metric_class))
    if unknown:
        raise RoundingError(f"{rules.by_metric_mart} has metrics with no rounding class: {unknown}; add their sources to disclosure.yaml")
    places = metric.map({m: rules.places[k] for m, k in rules.metric_class.items()})
    out = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    for digits in sorted(set(places.dropna().astype(int))):  # one pass per number of places (two), not per row
        rows = (places == digits).to_numpy()
        out.loc[rows] = _round(frame.loc[rows, column], digits).to_numpy()
    return out
