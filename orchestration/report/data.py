"""Reading one publish folder: its manifest and its marts' Parquet files, nothing else.

The report is built from what was published (disclosure-controlled), never from the
warehouse. Each mart comes back as a `Mart`: the published rows, plus a boolean flag
per withheld column (from the row's `withheld` list), so a page can tell a withheld
cell ("withheld") from a figure that is simply missing ("–").

Pages read a mart through `Rows` (`Mart.rows_of`): positions into numpy arrays of its
columns, made once per mart. A national report reads some 150 LAs × 40 series, and
slicing DataFrames for each of them made the report take a minute; arrays make it seconds.
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
        if "la_code" not in self.columns:
            return {}
        return {str(code): np.asarray(pos) for code, pos in self.rows.groupby("la_code", sort=False).indices.items()}

    def select(self, **equal) -> pd.DataFrame:
        """The rows whose columns equal the values given, sorted by period (a DataFrame slice; see `rows_of`)."""
        return self.rows.iloc[self.rows_of(**equal).pos]

    # --- plain arrays: what the pages read, sliced without building DataFrames --------------------
    #
    # A page reads a few dozen cells of a few rows many times over; a pandas slice costs
    # far more than the cells it holds. So each column is turned into a numpy array once
    # (lazily) and a page works on `Rows`: positions into these arrays.

    @cached_property
    def _objects(self) -> dict[str, np.ndarray]:
        return {}

    @cached_property
    def _floats(self) -> dict[str, np.ndarray]:
        return {}

    def values(self, column: str) -> np.ndarray:
        """`column` as an object array: the Python values `DataFrame.to_numpy(dtype=object)` gives (NA as `pd.NA`)."""
        if column not in self._objects:
            self._objects[column] = self.rows[column].to_numpy(dtype=object)
        return self._objects[column]

    def floats(self, column: str) -> np.ndarray:
        """`column` as floats: NaN where missing or not a number (as `pd.to_numeric(errors="coerce")`)."""
        if column not in self._floats:
            numbers = pd.to_numeric(self.rows[column], errors="coerce").astype("float64")
            self._floats[column] = numbers.to_numpy(dtype=float, na_value=np.nan)
        return self._floats[column]

    @cached_property
    def period(self) -> np.ndarray:
        """Each row's period as numpy datetime64 (the column's own unit), for comparing and sorting."""
        return self.rows["period"].to_numpy()

    @property
    def columns(self) -> pd.Index:
        return self.rows.columns

    @property
    def size(self) -> int:
        """How many rows."""
        return len(self.rows)

    def rows_of(self, la_code: str | None = None, **equal) -> Rows:
        """The rows of `la_code` (every LA if None) whose columns equal the values given, sorted by period.

        The same rows in the same order as a boolean mask and `sort_values("period")` give
        (the sort is the same numpy quicksort on the same periods, so ties come out alike).
        """
        return _rows_of(self, la_code, equal)

    def slice(self, pos) -> MartSlice:
        """The rows at `pos` (ascending positions) as a mart of their own: see `MartSlice`."""
        return MartSlice(self, pos)


def _rows_of(mart: Mart | MartSlice, la_code: str | None, equal: dict) -> Rows:
    if la_code is not None and mart._by_la:
        pos = mart._by_la.get(str(la_code), np.array([], dtype=np.intp))
    elif la_code is not None:
        equal = {"la_code": la_code, **equal}
        pos = np.arange(mart.size)
    else:
        pos = np.arange(mart.size)
    for column, value in equal.items():
        pos = pos[_equals(mart, column, pos, value)]
    rows = Rows(mart, pos)
    return rows.sort_by_period() if "period" in mart.columns else rows


class MartSlice:
    """Some rows of a mart as a mart of their own: what one hub or LA page is rendered from.

    It answers what a page asks of a `Mart` (`rows_of`, `values`, `floats`, `period`, `flags`,
    `keys`, `columns`, `size`, `name`) from its rows only, so a page given slices cannot read
    any other row (`inputs.PageInputs`: the rows a page reads are what its digest covers).
    The rows keep their order in the mart (ascending positions), so `rows_of` finds, sorts
    and ties them exactly as it does in the whole mart. Columns are the mart's arrays sliced,
    not a DataFrame: slicing a DataFrame costs some 3 ms per mart and page, a tenth of a page.
    """

    def __init__(self, mart: Mart, pos):
        pos = np.asarray(pos, dtype=np.intp)
        self.name = mart.name
        self.columns = mart.columns
        self.size = len(pos)
        self._mart, self._pos = mart, pos
        self.keys = mart.keys[pos]
        flags = {column: held[pos] for column, held in mart.flags.items()}
        self.flags = {column: held for column, held in flags.items() if held.any()}  # as the rows' own `withheld` lists give
        self._objects: dict[str, np.ndarray] = {}
        self._floats: dict[str, np.ndarray] = {}

    def values(self, column: str) -> np.ndarray:
        if column not in self._objects:
            self._objects[column] = self._mart.values(column)[self._pos]
        return self._objects[column]

    def floats(self, column: str) -> np.ndarray:
        if column not in self._floats:
            self._floats[column] = self._mart.floats(column)[self._pos]
        return self._floats[column]

    @cached_property
    def period(self) -> np.ndarray:
        return self._mart.period[self._pos]

    @cached_property
    def _by_la(self) -> dict[str, np.ndarray]:
        if "la_code" not in self.columns:
            return {}
        codes, uniques = pd.factorize(pd.Series(self.values("la_code"), dtype=object))  # missing codes: -1, as groupby drops them
        return {str(code): np.flatnonzero(codes == k) for k, code in enumerate(uniques)}

    def rows_of(self, la_code: str | None = None, **equal) -> Rows:
        """As `Mart.rows_of`, among these rows."""
        return _rows_of(self, la_code, equal)


def _equals(mart: Mart, column: str, pos: np.ndarray, value) -> np.ndarray:
    """Where `column` equals `value` among the rows at `pos` (missing values never equal)."""
    if column == "period":
        return mart.period[pos] == pd.Timestamp(value).to_datetime64()
    cells = mart.values(column)[pos]
    try:
        return np.asarray(cells == value, dtype=bool)
    except TypeError:  # a missing value (pd.NA) cannot say whether it is equal
        return np.fromiter((not _is_missing(v) and bool(v == value) for v in cells), dtype=bool, count=len(cells))


def _is_missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


class Rows:
    """Some rows of one mart, as positions into its column arrays: a cheap stand-in for a DataFrame slice.

    `rows[column]` is an object array (the same Python values a DataFrame slice gives),
    `floats(column)` the numbers, `withheld` / `ids` the flags and cell references.
    """

    __slots__ = ("mart", "pos")

    def __init__(self, mart: Mart | None, pos):
        self.mart = mart
        self.pos = np.asarray(pos, dtype=np.intp)

    @classmethod
    def none(cls) -> Rows:
        """No rows (of a mart that is not published)."""
        return cls(None, np.array([], dtype=np.intp))

    def __len__(self) -> int:
        return len(self.pos)

    @property
    def empty(self) -> bool:
        return len(self.pos) == 0

    def __getitem__(self, column: str) -> np.ndarray:
        return self.mart.values(column)[self.pos]

    def first(self, column: str):
        """`column` of the first row."""
        if column == "period":  # without turning every period of a large mart into a Timestamp
            return pd.Timestamp(self.mart.period[self.pos[0]])
        return self.mart.values(column)[self.pos[0]]

    def floats(self, column: str) -> np.ndarray:
        return self.mart.floats(column)[self.pos]

    @property
    def period(self) -> np.ndarray:
        return self.mart.period[self.pos]

    def withheld(self, column: str) -> np.ndarray:
        """True where `column` is withheld."""
        flags = self.mart.flags.get(column)
        return flags[self.pos] if flags is not None else np.zeros(len(self.pos), dtype=bool)

    def ids(self, column: str) -> list[str]:
        """The cell references (see `cell_id`) of `column`, one per row."""
        return [f"{key}|{column}" for key in self.mart.keys[self.pos]]

    def where(self, mask) -> Rows:
        return Rows(self.mart, self.pos[np.asarray(mask, dtype=bool)])

    def take(self, order) -> Rows:
        return Rows(self.mart, self.pos[np.asarray(order, dtype=np.intp)])

    def at_period(self, period) -> Rows:
        """The rows of one month."""
        if self.empty:
            return self
        return self.where(self.period == pd.Timestamp(period).to_datetime64())

    def latest(self) -> Rows:
        """The rows of the latest month among these."""
        if self.empty:
            return self
        period = self.period
        return self.where(period == period.max())

    def in_months(self, months: np.ndarray) -> Rows:
        """The rows whose month is one of `months` (datetime64)."""
        return self.where(np.isin(self.period, months))

    def sort_by_period(self) -> Rows:
        """Sorted by period as `DataFrame.sort_values("period")` sorts (numpy quicksort of the datetimes)."""
        if len(self.pos) < 2:
            return self
        return self.take(np.argsort(self.period, kind="quicksort"))


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
    flags = _withheld_flags(frame[WITHHELD]) if WITHHELD in frame.columns else {}
    texts = [_key_text(frame[key], key) for key in MART_KEYS.get(name, ())]
    keys = np.empty(len(frame), dtype=object)
    keys[:] = ["|".join((name, *parts)) for parts in zip(*texts)] if texts else name
    return Mart(name=name, rows=frame, flags=flags, keys=keys)


def _withheld_flags(withheld: pd.Series) -> dict[str, np.ndarray]:
    """Per column named in any row's comma-separated `withheld` list, a boolean per row.

    Worked out once per distinct list (a mart has a few hundred), not per row: the same
    flags as `str.get_dummies(sep=",")`, in a fraction of the time.
    """
    codes, lists = pd.factorize(withheld.fillna("").astype(str))
    flags: dict[str, np.ndarray] = {}
    for k, text in enumerate(lists):
        rows = codes == k
        for column in set(str(text).split(",")):
            flags[column] = flags[column] | rows if column in flags else rows
    return {column: flags[column] for column in sorted(flags)}


def _key_text(values: pd.Series, key: str) -> list[str]:
    """A key column as a cell reference writes it (periods as YYYY-MM), formatted once per distinct value."""
    codes, uniques = pd.factorize(values)
    if (codes < 0).any():  # a missing key: format row by row
        text = values.dt.strftime("%Y-%m") if key == "period" else values.astype(str)
        return [str(t) for t in text.astype(object)]
    words = uniques.strftime("%Y-%m") if key == "period" else pd.Series(uniques).astype(str)
    return np.asarray(words, dtype=object)[codes].tolist()
