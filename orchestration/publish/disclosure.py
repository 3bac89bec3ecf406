"""Disclosure control for published marts: small counts of children are withheld.

The rules are data (``disclosure.yaml`` next to this file): every column of every
mart is classified as a count of children, a figure derived from such counts, or
published as it is; mart_benchmark follows its source marts. `apply_disclosure`
turns the warehouse's exact marts into what may be published: withheld cells
become null, a boolean `<column>_withheld` flag beside each column that can be
withheld says which nulls are withheld (so a BI tool can tell them from a missing
value: withheld is `value = null AND value_withheld = true`), and a `withheld`
column names them per row (kept for readers of earlier publishes). The warehouse is
never changed; neither are the frames passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
import yaml

RULES_PATH = Path(__file__).with_name("disclosure.yaml")
WITHHELD = "withheld"
FLAG_SUFFIX = "_withheld"


def flag_name(column: str) -> str:
    """The boolean companion of a column that can be withheld: True where that cell is withheld."""
    return column + FLAG_SUFFIX
KINDS = ("counts", "derived", "as_is", "benchmark_value", "benchmark_group")


class DisclosureError(ValueError):
    """The rules cannot be applied as they stand (an unclassified column, an unknown metric...)."""


@dataclass(frozen=True)
class MartRule:
    counts: tuple[str, ...] = ()
    derived: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    as_is: tuple[str, ...] = ()
    benchmark_value: tuple[str, ...] = ()
    benchmark_group: tuple[str, ...] = ()
    additive: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (total, parts): total = sum(parts) in every row

    @property
    def kind_of(self) -> dict[str, str]:
        kinds: dict[str, str] = {}
        for kind in KINDS:
            names = self.derived.keys() if kind == "derived" else getattr(self, kind)
            for name in names:
                kinds[name] = kind
        return kinds

    @property
    def withholdable(self) -> tuple[str, ...]:
        """The columns that can be withheld (each gets a `<column>_withheld` flag)."""
        return (*self.counts, *self.derived, *self.benchmark_value, *self.benchmark_group)

    @property
    def has_rules(self) -> bool:
        """True when the mart can withhold anything (it then gets the `withheld` column)."""
        return bool(self.counts or self.derived or self.benchmark_value or self.benchmark_group)


@dataclass(frozen=True)
class BenchmarkSource:
    mart: str
    column: str
    where: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class BenchmarkRule:
    mart: str
    keys: tuple[str, ...]
    metric_column: str
    value_column: str
    group_by: tuple[str, ...]
    group_statistics: tuple[str, ...]
    sources: Mapping[str, BenchmarkSource]


@dataclass(frozen=True)
class Rules:
    marts: Mapping[str, MartRule]
    benchmark: BenchmarkRule
    source: Path

    def summary(self) -> dict:
        """The rules as the manifest records them."""
        marts = {}
        for name, rule in self.marts.items():
            entry: dict = {"counts": list(rule.counts), "derived": {k: list(v) for k, v in rule.derived.items()}, "as_is": list(rule.as_is)}
            if rule.benchmark_value or rule.benchmark_group:
                entry["benchmark_value"] = list(rule.benchmark_value)
                entry["benchmark_group"] = list(rule.benchmark_group)
            marts[name] = entry
        b = self.benchmark
        return {
            "counts": "a count of children is withheld when 1 <= value <= threshold",
            "derived": "a figure derived from counts of children is withheld when any of its source counts in the row is withheld",
            "as_is": "households, places, enquiries, money, codes, dates and names are published as they are",
            "benchmark": (
                f"{b.mart}.{b.value_column} is withheld where the same figure is withheld in its source mart; "
                f"{', '.join(b.group_statistics)} are withheld for every row of a ({', '.join(b.group_by)}) "
                "group in which any member's value was withheld"
            ),
            "withheld_flags": f"'<column>{FLAG_SUFFIX}' (boolean, beside each column that can be withheld) is true where that cell is withheld; "
            "an empty cell whose flag is false is a missing value, not a withheld one",
            "withheld_column": f"'{WITHHELD}' lists the columns withheld in the row, comma-separated ('' when none); the flags say the same",
            "marts": marts,
            "benchmark_sources": {m: {"mart": s.mart, "column": s.column, "where": dict(s.where)} for m, s in b.sources.items()},
        }


def load_rules(path: Path | None = None) -> Rules:
    return _load_rules(Path(path or RULES_PATH).resolve())


@lru_cache(maxsize=None)
def _load_rules(path: Path) -> Rules:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    marts: dict[str, MartRule] = {}
    for name, spec in raw["marts"].items():
        unknown = set(spec) - set(KINDS) - {"additive"}
        if unknown:
            raise DisclosureError(f"{path}: {name} has unknown classes {sorted(unknown)} (allowed: {', '.join(KINDS)})")
        rule = MartRule(
            counts=tuple(spec.get("counts") or ()),
            derived={k: tuple(v) for k, v in (spec.get("derived") or {}).items()},
            as_is=tuple(spec.get("as_is") or ()),
            benchmark_value=tuple(spec.get("benchmark_value") or ()),
            benchmark_group=tuple(spec.get("benchmark_group") or ()),
            additive=tuple((r["total"], tuple(r["parts"])) for r in spec.get("additive") or ()),
        )
        listed = [*rule.counts, *rule.derived, *rule.as_is, *rule.benchmark_value, *rule.benchmark_group]
        twice = sorted({c for c in listed if listed.count(c) > 1})
        if twice:
            raise DisclosureError(f"{path}: {name} classifies {twice} more than once")
        for column, sources in rule.derived.items():
            if not sources:
                raise DisclosureError(f"{path}: {name}.{column} is derived but lists no source count")
            not_counts = [s for s in sources if s not in rule.counts]
            if not_counts:
                raise DisclosureError(f"{path}: {name}.{column} derives from {not_counts}, which are not counts of {name}")
        for total, parts in rule.additive:
            not_counts = [c for c in (total, *parts) if c not in rule.counts]
            if not_counts:
                raise DisclosureError(f"{path}: {name} additive relation of {total} names {not_counts}, which are not counts")
        marts[name] = rule
    b = raw["benchmark"]
    benchmark = BenchmarkRule(
        mart=b["mart"],
        keys=tuple(b["keys"]),
        metric_column=b["metric_column"],
        value_column=b["value_column"],
        group_by=tuple(b["group_by"]),
        group_statistics=tuple(b["group_statistics"]),
        sources={m: BenchmarkSource(s["mart"], s["column"], dict(s.get("where") or {})) for m, s in b["sources"].items()},
    )
    bm = marts.get(benchmark.mart)
    if bm is None or set(bm.benchmark_value) != {benchmark.value_column} or set(bm.benchmark_group) != set(benchmark.group_statistics):
        raise DisclosureError(f"{path}: {benchmark.mart} must classify {benchmark.value_column} as benchmark_value and the group statistics as benchmark_group")
    for metric, source in benchmark.sources.items():
        if source.mart not in marts or source.column not in marts[source.mart].kind_of:
            raise DisclosureError(f"{path}: benchmark metric {metric} comes from {source.mart}.{source.column}, which is not classified")
    return Rules(marts=marts, benchmark=benchmark, source=path)


def unclassified(columns: Mapping[str, list[str]], rules: Rules | None = None) -> list[str]:
    """`mart.column` of every column (and `mart` of every mart) the rules do not classify."""
    rules = rules or load_rules()
    problems = []
    for mart, names in columns.items():
        rule = rules.marts.get(mart)
        if rule is None:
            problems.append(mart)
            continue
        kinds = rule.kind_of
        problems += [f"{mart}.{c}" for c in names if c not in kinds]
    return problems


def count_withheld(frame: pd.DataFrame) -> int:
    """Withheld cells of a disclosed mart (0 for a mart without the `withheld` column)."""
    if WITHHELD not in frame.columns or frame.empty:
        return 0
    names = frame[WITHHELD].fillna("").astype(str)
    return int((names.str.count(",") + (names != "")).sum())


def apply_disclosure(marts: dict[str, pd.DataFrame], threshold: int, rules: Rules | None = None) -> dict[str, pd.DataFrame]:
    """The marts as they may be published: withheld cells null, a `withheld` column naming them.

    Refuses (DisclosureError) a mart or column the rules do not classify, so nothing
    unclassified is ever published. The frames passed in are not modified.
    """
    rules = rules or load_rules()
    if isinstance(threshold, bool) or int(threshold) != threshold or threshold < 0:
        raise DisclosureError(f"the disclosure threshold must be a whole number >= 0, not {threshold!r}")
    problems = unclassified({name: list(frame.columns) for name, frame in marts.items()}, rules)
    if problems:
        raise DisclosureError(
            "not classified for disclosure control (add them to "
            f"{rules.source.name}): {', '.join(problems)}"
        )
    disclosed: dict[str, pd.DataFrame] = {}
    masks: dict[str, pd.DataFrame] = {}
    for name, frame in marts.items():
        if name != rules.benchmark.mart:
            masks[name] = _mart_mask(frame, rules.marts[name], threshold, name)
            disclosed[name] = _withhold(frame, masks[name], rules.marts[name])
    if rules.benchmark.mart in marts:
        name = rules.benchmark.mart
        masks[name] = _benchmark_mask(marts[name], rules, marts, masks)
        disclosed[name] = _withhold(marts[name], masks[name], rules.marts[name])
    return {name: disclosed[name] for name in marts}


def _mart_mask(frame: pd.DataFrame, rule: MartRule, threshold: int, name: str) -> pd.DataFrame:
    """True where a cell is withheld; one column per count or derived column present, in frame order."""
    mask: dict[str, pd.Series] = {}
    for column in rule.counts:
        if column in frame.columns:
            values = pd.to_numeric(frame[column], errors="coerce")
            mask[column] = ((values >= 1) & (values <= threshold)).fillna(False).astype(bool)
    _protect_sums(frame, rule, mask)
    for column, sources in rule.derived.items():
        if column not in frame.columns:
            continue
        missing = [s for s in sources if s not in frame.columns]
        if missing:
            raise DisclosureError(f"{name}.{column} cannot be disclosed: its source counts {missing} are not in the frame")
        any_source = pd.concat([mask[s] for s in sources], axis=1).any(axis=1)
        mask[column] = any_source & frame[column].notna()
    order = [c for c in frame.columns if c in mask]
    return pd.DataFrame({c: mask[c] for c in order}, index=frame.index, columns=order, dtype=bool)


def _protect_sums(frame: pd.DataFrame, rule: MartRule, mask: dict[str, pd.Series]) -> None:
    """Secondary suppression: never leave one withheld cell alone in a published sum.

    Where a total and its parts are published in one row, a single withheld cell
    could be worked out by subtraction. In every such row, the smallest published
    part (a non-zero one when there is one) is withheld as well, or the total when
    it has no other part; repeated until no relation has exactly one withheld cell,
    since one relation's extra cell can leave another with one.
    """
    relations = [(t, p) for t, p in rule.additive if t in mask and all(c in mask for c in p)]
    for _ in range(len(relations) * 4 + 1):
        changed = False
        for total, parts in relations:
            cells = [total, *parts]
            hidden = pd.concat([mask[c] for c in cells], axis=1)
            lonely = hidden.sum(axis=1) == 1
            if not lonely.any():
                continue
            values = pd.concat([pd.to_numeric(frame[c], errors="coerce") for c in parts], axis=1).astype(float)
            values.columns = list(parts)
            published = ~pd.concat([mask[c] for c in parts], axis=1)
            published.columns = list(parts)
            # rank the candidates: published parts only, non-zero before zero, smallest first
            score = values.where(published).where(values != 0, values.where(published) + 1e12)
            has_candidate = score.notna().any(axis=1)
            pick = score.fillna(np.inf).idxmin(axis=1).where(lonely & has_candidate)
            for part in parts:
                extra = (pick == part) & lonely
                if extra.any():
                    mask[part] = mask[part] | extra
                    changed = True
            no_part = lonely & ~has_candidate
            if no_part.any():
                mask[total] = mask[total] | no_part
                changed = True
        if not changed:
            return


def _key_frame(frame: pd.DataFrame, keys: tuple[str, ...]) -> pd.DataFrame:
    """Join keys made comparable: dates, datetimes and Timestamps of the same instant match."""
    out = {}
    for key in keys:
        s = frame[key]
        if pd.api.types.infer_dtype(s, skipna=True) in ("date", "datetime", "datetime64"):
            out[key] = pd.to_datetime(s).dt.strftime("%Y-%m-%dT%H:%M:%S").astype(object)
        else:
            out[key] = s.astype(object)
    return pd.DataFrame(out, index=frame.index)


def _benchmark_mask(bm: pd.DataFrame, rules: Rules, marts: Mapping[str, pd.DataFrame], masks: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    spec = rules.benchmark
    for column in (*spec.keys, spec.metric_column, spec.value_column, *spec.group_by):
        if column not in bm.columns:
            raise DisclosureError(f"{spec.mart} cannot be disclosed without its column {column}")
    metrics = set(bm[spec.metric_column].dropna().unique())
    unknown = sorted(metrics - set(spec.sources))
    if unknown:
        raise DisclosureError(f"{spec.mart} has metrics with no disclosure source in {rules.source.name}: {unknown}")

    value = bm[spec.value_column]
    source_withheld = pd.Series(False, index=bm.index)
    found = pd.Series(False, index=bm.index)
    keys = list(spec.keys)
    for metric, source in spec.sources.items():
        rows = bm[spec.metric_column] == metric
        if not rows.any():
            continue
        if source.mart not in marts:
            if value[rows].notna().any():
                raise DisclosureError(f"{spec.mart} metric {metric} needs its source mart {source.mart} to be disclosed with it")
            continue
        src = marts[source.mart]
        chosen = pd.Series(True, index=src.index)
        for column, wanted in source.where.items():
            chosen &= src[column] == wanted
        src_mask = masks[source.mart]
        lookup = _key_frame(src.loc[chosen], spec.keys)
        lookup["_withheld"] = src_mask[source.column].loc[chosen] if source.column in src_mask.columns else False
        lookup["_found"] = True
        if lookup.duplicated(keys).any():
            raise DisclosureError(f"{source.mart} has more than one row per {keys} for benchmark metric {metric}")
        left = _key_frame(bm.loc[rows], spec.keys)
        merged = left.reset_index(names="_row").merge(lookup, on=keys, how="left").set_index("_row")
        source_withheld.loc[merged.index] = merged["_withheld"].fillna(False).astype(bool).to_numpy()
        found.loc[merged.index] = merged["_found"].fillna(False).astype(bool).to_numpy()

    # A value whose source row is missing cannot be shown safe: withhold it (fail closed).
    value_withheld = (source_withheld | ~found) & value.notna()
    group_keys = bm[list(spec.group_by)]
    in_withheld_group = value_withheld.groupby([group_keys[c] for c in spec.group_by], dropna=False).transform("any").astype(bool)
    mask = {spec.value_column: value_withheld}
    for column in spec.group_statistics:
        if column in bm.columns:
            mask[column] = in_withheld_group & bm[column].notna()
    order = [c for c in bm.columns if c in mask]
    return pd.DataFrame({c: mask[c] for c in order}, index=bm.index, columns=order, dtype=bool)


def _nullable(series: pd.Series) -> pd.Series:
    """The same values in a dtype that can hold a null without changing type (ints stay ints)."""
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iu":
        return series.astype(str(dtype).replace("uint", "UInt").replace("int", "Int"))
    if isinstance(dtype, np.dtype) and dtype.kind == "b":
        return series.astype("boolean")
    return series


def _withhold(frame: pd.DataFrame, mask: pd.DataFrame, rule: MartRule) -> pd.DataFrame:
    """The mart with withheld cells null, a `<column>_withheld` flag right after each column of `mask`, and `withheld`."""
    if not rule.has_rules:
        return frame.copy()
    clash = [flag_name(c) for c in mask.columns if flag_name(c) in frame.columns] + ([WITHHELD] if WITHHELD in frame.columns else [])
    if clash:
        raise DisclosureError(f"the mart already has columns named like the withheld flags: {clash}; rename them in the model")
    columns: dict[str, pd.Series] = {}
    withheld = pd.Series("", index=frame.index, dtype=object)
    for column in frame.columns:
        if column not in mask.columns:
            columns[column] = frame[column]
            continue
        hide = mask[column]
        columns[column] = _nullable(frame[column]).mask(hide)
        columns[flag_name(column)] = hide.astype(bool)
        withheld = withheld + np.where(hide.to_numpy(), column + ",", "")
    columns[WITHHELD] = withheld.str.rstrip(",").astype(str) if len(frame) else withheld.astype(str)
    return pd.DataFrame(columns, index=frame.index)
