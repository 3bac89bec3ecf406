"""Reading one publish folder: its manifest and its marts' Parquet files, nothing else.

The report is built from what was published (disclosure-controlled), never from the
warehouse. Each mart comes back as a `Mart`: the published rows, plus a boolean flag
per withheld column (from the row's `withheld` list), so a page can tell a withheld
cell ("withheld") from a figure that is simply missing ("–").
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

MANIFEST = "manifest.json"
WITHHELD = "withheld"

# The key of each mart's rows, in the order a cell reference (`cell_id`) names them.
MART_KEYS: dict[str, tuple[str, ...]] = {
    "mart_sufficiency": ("la_code", "period"),
    "mart_sufficiency_by_need": ("la_code", "period", "need_category"),
    "mart_recruitment": ("la_code", "period", "carer_type"),
    "mart_cost_per_placement": ("la_code", "period", "category"),
    "mart_cost_comparison": ("la_code", "period"),
    "mart_finance": ("la_code", "period", "cost_line"),
    "mart_benchmark": ("group_type", "group_name", "la_code", "period", "metric"),
    "mart_submission_status": ("la_code", "period"),
}

_NULLABLE = {
    pa.int8(): pd.Int64Dtype(), pa.int16(): pd.Int64Dtype(), pa.int32(): pd.Int64Dtype(), pa.int64(): pd.Int64Dtype(),
    pa.bool_(): pd.BooleanDtype(),
}


class ReportError(RuntimeError):
    """The publish cannot be read as a report (no manifest, a file that does not match it...)."""


@dataclass(frozen=True)
class Mart:
    """One published mart: its rows (periods as Timestamps, money as floats) and withheld flags.

    `rows` has a RangeIndex, so a slice's index gives each row's position in the arrays below.
    """

    name: str
    rows: pd.DataFrame
    flags: dict[str, np.ndarray]  # per column withheld in any row: a boolean per row
    keys: np.ndarray  # each row's key as a cell reference names it: "mart|la_code|YYYY-MM|..."

    def ids(self, column: str, rows: pd.DataFrame) -> list[str]:
        """The cell references (see `cell_id`) of `column` in `rows` (a slice of `self.rows`)."""
        return [f"{key}|{column}" for key in self.keys[rows.index.to_numpy()]]

    def withheld(self, column: str, rows: pd.DataFrame | None = None) -> pd.Series:
        """True where `column` is withheld, for `rows` (a slice of `self.rows`) or every row."""
        index = self.rows.index if rows is None else rows.index
        if column in self.flags:
            return pd.Series(self.flags[column][index.to_numpy()], index=index)
        return pd.Series(False, index=index)

    @cached_property
    def _by_la(self) -> dict[str, np.ndarray]:
        if "la_code" not in self.rows.columns:
            return {}
        return {str(code): np.asarray(pos) for code, pos in self.rows.groupby("la_code", sort=False).indices.items()}

    def select(self, **equal) -> pd.DataFrame:
        """The rows whose columns equal the values given, sorted by period."""
        rows = self.rows
        if "la_code" in equal and self._by_la:
            rows = rows.iloc[self._by_la.get(str(equal.pop("la_code")), np.array([], dtype=int))]
        mask = np.ones(len(rows), dtype=bool)
        for column, value in equal.items():
            mask &= (rows[column] == value).fillna(False).to_numpy(dtype=bool)
        out = rows[mask]
        return out.sort_values("period") if "period" in out.columns else out


@dataclass(frozen=True)
class Authority:
    code: str
    name: str
    hub: str
    region: str
    slug: str
    latest: pd.Timestamp  # the LA's latest published month


@dataclass(frozen=True)
class Publish:
    path: Path
    version: str
    created_at: str
    threshold: int
    manifest: dict
    marts: dict[str, Mart] = field(default_factory=dict)

    def mart(self, name: str) -> Mart:
        if name not in self.marts:
            raise ReportError(f"the publish {self.path} has no {name}")
        return self.marts[name]

    def has(self, name: str) -> bool:
        return name in self.marts

    @property
    def latest_period(self) -> pd.Timestamp | None:
        periods = self.mart("mart_sufficiency").rows["period"]
        return None if periods.empty else periods.max()

    def authorities(self) -> list[Authority]:
        """The LAs with published figures (a row in mart_sufficiency), by hub then name."""
        rows = self.mart("mart_sufficiency").rows
        if rows.empty:
            return []
        grouped = (
            rows.groupby(["la_code", "la_name", "hub", "region"], dropna=False)["period"].max()
            .reset_index().sort_values(["hub", "la_name"], na_position="last")
        )
        slugs = unique_slugs(grouped["la_name"].fillna(grouped["la_code"]), grouped["la_code"])
        return [
            Authority(r.la_code, r.la_name or r.la_code, r.hub if isinstance(r.hub, str) else "No hub",
                      r.region if isinstance(r.region, str) else "", slug, r.period)
            for r, slug in zip(grouped.itertuples(index=False), slugs, strict=True)
        ]

    def hubs(self) -> dict[str, list[Authority]]:
        """Each hub with published figures and its LAs (in name order)."""
        out: dict[str, list[Authority]] = {}
        for la in self.authorities():
            out.setdefault(la.hub, []).append(la)
        return out


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "x"


def unique_slugs(names, codes) -> list[str]:
    slugs = [slugify(n) for n in names]
    counts = pd.Series(slugs).value_counts()
    return [s if counts[s] == 1 else f"{s}-{slugify(c)}" for s, c in zip(slugs, codes, strict=True)]


def hub_slug(hub: str) -> str:
    return slugify(hub)


def cell_id(mart: str, row, column: str) -> str:
    """How the report names one published cell: `mart|key values...|column` (periods as YYYY-MM)."""
    parts = [mart]
    for key in MART_KEYS[mart]:
        value = row[key]
        parts.append(value.strftime("%Y-%m") if key == "period" else str(value))
    parts.append(column)
    return "|".join(parts)


def read_publish(version_dir: Path) -> Publish:
    """Read the manifest and every mart's Parquet file of one publish version folder.

    Each file's SHA-256 is checked against the manifest, so a report is never built
    from a folder that is incomplete or was changed after publishing.
    """
    version_dir = Path(version_dir)
    manifest_path = version_dir / MANIFEST
    if not manifest_path.is_file():
        raise ReportError(f"{version_dir} is not a publish: it has no {MANIFEST}")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    marts: dict[str, Mart] = {}
    for entry in manifest.get("marts", []):
        name = entry["name"]
        info = entry["files"]["parquet"]
        path = version_dir / info["path"]
        if not path.is_file():
            raise ReportError(f"{path} is listed in the manifest but missing")
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != info["sha256"]:
            raise ReportError(f"{path} does not match the checksum in {manifest_path}")
        table = pq.read_table(pa.BufferReader(data))
        marts[name] = _mart(name, table.to_pandas(types_mapper=_NULLABLE.get))
    for needed in ("mart_sufficiency", "mart_recruitment", "mart_benchmark"):
        if needed not in marts:
            raise ReportError(f"the publish {version_dir} has no {needed}")
    return Publish(
        path=version_dir.resolve(),
        version=str(manifest.get("version", version_dir.name)),
        created_at=str(manifest.get("created_at", "")),
        threshold=int(manifest.get("disclosure", {}).get("threshold", 5)),
        manifest=manifest,
        marts=marts,
    )


def _mart(name: str, frame: pd.DataFrame) -> Mart:
    frame = frame.reset_index(drop=True)
    for column in ("period", "due_date"):
        if column in frame.columns:
            frame[column] = pd.to_datetime(frame[column])
    for column in frame.columns:  # DECIMAL money comes back as Python Decimals
        if frame[column].dtype == object and column not in ("period", "due_date"):
            sample = frame[column].dropna()
            if not sample.empty and not isinstance(sample.iloc[0], str):
                frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    flags: dict[str, np.ndarray] = {}
    if WITHHELD in frame.columns:
        dummies = frame[WITHHELD].fillna("").astype(str).str.get_dummies(sep=",")
        flags = {column: dummies[column].to_numpy(dtype=bool) for column in dummies.columns}
    keys = pd.Series(name, index=frame.index, dtype=object)
    for key in MART_KEYS.get(name, ()):
        text = frame[key].dt.strftime("%Y-%m") if key == "period" else frame[key].astype(str)
        keys = keys + "|" + text.astype(object)
    return Mart(name=name, rows=frame, flags=flags, keys=keys.to_numpy(dtype=object))
