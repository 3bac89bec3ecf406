"""What each hub and LA page is rendered from, and a digest of it: a page whose digest is unchanged is carried.

A page is split in two: `page_inputs` works out its inputs (which rows of which marts it
reads, the LA or the hub and its authorities, the threshold), cheaply, without rendering;
`PageInputs.render` draws the page from those inputs only. The render is given a `PageData`:
for each mart the page declares (`la_page.MARTS`, `hub_page.MARTS`) a `MartSlice` of the
page's rows and nothing else, so whatever the render reads is in the inputs by construction.
A page reading a mart it does not declare fails (`PageData.mart`) instead of going stale.

`PageInputs.digest` is a SHA-256 of those inputs (the rows' published values, in their order,
with their columns' names and types) and of the code that renders them (`code_fingerprint`):
equal digests give byte-identical pages. Hashing a page's rows costs a fraction of a
millisecond (`RowBytes`: each mart is turned once into fixed-width bytes per row, a few
hundred milliseconds for a national publish); rendering a page costs tens. Nothing version-dependent (the publish's name or time) is in an LA
or hub page: the overview, always rendered, names the publish.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from orchestration.code_digest import code_digest
from orchestration.report import hub_page, la_page
from orchestration.report.data import Authority, Mart, MartSlice, Publish, ReportError, _equals, hub_slug

DIGEST_FORMAT = 1  # how a digest is taken; a change to this module changes the code fingerprint too


def code_fingerprint() -> str | None:
    """Everything besides a page's inputs that its bytes depend on: the report's code and the libraries.

    The source of every module of `orchestration/report/` is in it, so a change to how pages
    are drawn is never hidden by a page carried from an older version; None (nothing is
    carried) when the source cannot be read.
    """
    return code_digest(sorted(Path(__file__).parent.glob("*.py")), digest_format=DIGEST_FORMAT)


@dataclass(frozen=True)
class PageData:
    """What a hub or LA page is rendered from: the threshold and slices of the marts it declares."""

    page: str
    threshold: int
    marts: dict[str, MartSlice]

    def mart(self, name: str) -> MartSlice:
        if name not in self.marts:
            raise ReportError(f"{self.page} reads {name}, which is not among the marts its page declares (MARTS)")
        return self.marts[name]

    def has(self, name: str) -> bool:
        return name in self.marts


@dataclass(frozen=True)
class PageInputs:
    """One hub or LA page's inputs: its path, its subject, the threshold and its rows of each mart."""

    name: str  # its path in the report: la/<slug>.html, hub/<slug>.html
    la: Authority | None  # an LA's page
    hub: str | None  # a hub's page, with
    members: tuple[Authority, ...]  # its authorities
    threshold: int
    rows: dict[str, np.ndarray]  # each mart the page declares that the publish has -> its rows' positions (ascending)

    def data(self, publish: Publish) -> PageData:
        return PageData(self.name, self.threshold, {name: publish.mart(name).slice(pos) for name, pos in self.rows.items()})

    def render(self, publish: Publish) -> tuple[str, int]:
        """The page's HTML and how many charts it has, drawn from its inputs only."""
        data = self.data(publish)
        if self.la is not None:
            return la_page.render(data, self.la)
        return hub_page.render(data, self.hub, list(self.members))

    def digest(self, publish: Publish, code: str | None, rows: RowBytes) -> str | None:
        """A SHA-256 of everything the page is rendered from; None (always rendered) when it cannot be taken."""
        if code is None:
            return None
        head = {
            "digest_format": DIGEST_FORMAT,
            "code": code,
            "page": self.name,
            "la": _authority(self.la) if self.la is not None else None,
            "hub": self.hub,
            "members": [_authority(m) for m in self.members],
            "threshold": self.threshold,
            "marts": list(self.rows),
        }
        digest = hashlib.sha256(json.dumps(head, sort_keys=True, default=repr).encode("utf-8"))
        for name, pos in self.rows.items():
            encoded = rows.of(publish.mart(name))
            if encoded is None:
                return None
            missing, lanes = encoded.rows(pos)
            digest.update(encoded.header)
            digest.update(len(pos).to_bytes(8, "little"))
            digest.update(missing)
            digest.update(lanes)
        return digest.hexdigest()


def _authority(la: Authority) -> dict:
    return {"code": la.code, "name": la.name, "hub": la.hub, "region": la.region, "slug": la.slug,
            "latest": pd.Timestamp(la.latest).isoformat() if la.latest is not None else None}


def page_inputs(publish: Publish, hubs: dict[str, list[Authority]]) -> list[PageInputs]:
    """Every hub and LA page's inputs, in the report's order: each hub's page, then its LAs' pages."""
    threshold = int(publish.threshold)
    benchmark = publish.mart(hub_page.MARTS[0]) if publish.has(hub_page.MARTS[0]) else None
    groups = _hub_rows(benchmark) if benchmark is not None else {}
    none = np.array([], dtype=np.intp)
    out = []
    for hub, members in hubs.items():
        rows = {hub_page.MARTS[0]: groups.get(hub, none)} if benchmark is not None else {}
        out.append(PageInputs(f"hub/{hub_slug(hub)}.html", None, hub, tuple(members), threshold, rows))
        for la in members:
            rows = {name: _la_rows(publish.mart(name), la.code) for name in la_page.MARTS if publish.has(name)}
            out.append(PageInputs(f"la/{la.slug}.html", la, None, (), threshold, rows))
    return out


def _la_rows(mart: Mart, code: str) -> np.ndarray:
    """The positions of an LA's rows (every row of a mart that has no `la_code`: the page may read any)."""
    if "la_code" not in mart.columns:
        return np.arange(mart.size, dtype=np.intp)
    return np.asarray(mart._by_la.get(str(code), np.array([], dtype=np.intp)), dtype=np.intp)


def _hub_rows(mart: Mart) -> dict[str, np.ndarray]:
    """Each hub's rows of mart_benchmark (group_type "hub"), by hub name, in the mart's order."""
    if not {"group_type", "group_name"} <= set(mart.columns):
        return {}
    every = np.arange(mart.size, dtype=np.intp)
    hub_rows = every[_equals(mart, "group_type", every, "hub")]
    names = pd.Series(mart.values("group_name")[hub_rows], dtype=object)
    codes, uniques = pd.factorize(names)
    return {str(name): hub_rows[codes == k] for k, name in enumerate(uniques)}


class RowBytes:
    """Each mart's rows as fixed-width bytes, worked out once per mart: a page's digest hashes its rows' bytes.

    A row is, per column, a missing flag (one byte) and its value in 8-byte lanes: numbers and
    times as their own bits widened to 8 bytes (a missing value 0), anything else (text) as
    two lanes, the first 16 bytes of a SHA-256 of its type and `repr`, taken once per distinct
    value. With a header naming each column and its type, equal bytes mean the page reads
    equal values. Only published values go in: the marts come from the publish's files, where
    a withheld cell is null, so a digest tells nothing about a withheld count.
    """

    def __init__(self) -> None:
        self._marts: dict[str, _Encoded | None] = {}

    def of(self, mart: Mart) -> _Encoded | None:
        if mart.name not in self._marts:
            self._marts[mart.name] = _encode(mart)
        return self._marts[mart.name]


@dataclass(frozen=True)
class _Encoded:
    header: bytes  # the mart's name, its columns and their types
    missing: np.ndarray  # (columns, rows) bool
    lanes: np.ndarray  # (lanes, rows) uint64: column-major, so each column is written in one contiguous run

    def rows(self, pos: np.ndarray) -> tuple[bytes, bytes]:
        """The rows at `pos`: their missing flags and their lanes, as bytes."""
        return self.missing[:, pos].tobytes(), self.lanes[:, pos].tobytes()


def _encode(mart: Mart) -> _Encoded | None:
    frame = mart.rows
    header = json.dumps([mart.name, [[str(c), str(t)] for c, t in frame.dtypes.items()]]).encode("utf-8")
    n = len(frame)
    missing = np.empty((len(frame.columns), n), dtype=bool)
    columns = []
    try:
        for j, column in enumerate(frame.columns):
            missing[j], lanes = _column_lanes(frame[column])
            columns.append(lanes)
    except (TypeError, ValueError):  # a value that cannot be hashed: the pages reading this mart are always rendered
        return None
    out = np.empty((sum(len(c) for c in columns), n), dtype=np.uint64)
    at = 0
    for lanes in columns:
        out[at:at + len(lanes)] = lanes
        at += len(lanes)
    return _Encoded(header, missing, out)


def _column_lanes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """One column: whether each value is missing, and the values as (lanes, rows) uint64 (1 lane, or 2 for text)."""
    missing = np.asarray(values.isna(), dtype=bool)
    dtype = values.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "biufmM":
        data = values.to_numpy()
    elif hasattr(dtype, "numpy_dtype") and dtype.numpy_dtype.kind in "biuf":  # pandas' nullable Int64, boolean, Float64
        data = values.to_numpy(dtype=dtype.numpy_dtype, na_value=dtype.numpy_dtype.type(0))
    else:  # text and anything else: a digest per distinct value
        codes, uniques = pd.factorize(values)
        digests = np.zeros((len(uniques) + 1, 2), dtype=np.uint64)  # the last row: missing (code -1)
        for k, value in enumerate(uniques):
            text = f"{type(value).__module__}.{type(value).__qualname__}\0{value!r}".encode("utf-8")
            digests[k] = np.frombuffer(hashlib.sha256(text).digest()[:16], dtype=np.uint64)
        return missing, digests[codes].T
    if data.dtype.kind == "f":  # floats as the bits of a float64; a missing value (NaN) as 0
        data = np.where(missing, 0, data.astype(np.float64).view(np.int64)).view(np.uint64)
    elif data.dtype.kind in "mM":  # times as their count of units (the unit is in the header); NaT as 0
        data = np.where(missing, 0, data.view(np.int64)).view(np.uint64)
    elif data.dtype.kind == "u":
        data = np.where(missing, 0, data.astype(np.uint64))
    else:  # signed integers and booleans
        data = np.where(missing, 0, data.astype(np.int64)).view(np.uint64)
    return missing, data.reshape(1, -1)
