"""Publishing the marts: disclosure-controlled Parquet and CSV, versioned, switched atomically.

A publish reads every table of the warehouse's ``marts`` schema (read-only),
withholds small numbers (`disclosure.apply_disclosure`, which adds a boolean
``<column>_withheld`` flag beside each column that can be withheld), rounds doubles and
cuts timestamps to the second (`rounding`, so the same data gives the same bytes), and
writes each mart as Parquet and CSV, a ``data_dictionary.csv`` (`dictionary`) and a
``manifest.json`` into ``<publish_dir>/.staging-<version>``.
Only when everything is written and synced is the folder renamed to
``<publish_dir>/<version>`` and the pointers switched:

    <publish_dir>/
        20261122T093312Z/           one complete publish (version = UTC time)
            mart_benchmark.parquet  mart_benchmark.csv   ... one pair per mart
            data_dictionary.csv     every column of every mart: type, description, disclosure, rounding
            manifest.json           the same dictionary under "dictionary"
        20261121T180000Z/           older publishes, the newest `keep` kept
        latest -> 20261122T093312Z  symlink, replaced with os.replace (never missing)
        latest.json                 {"version", "path", "created_at"}, for tools that cannot follow symlinks;
                                    "path" is relative to the publish folder (the version's name)
        .publish.lock               one publish at a time

A reader of ``latest`` (or `read_latest`) therefore only ever sees a complete
publish, and a publish that fails or is killed half way leaves ``latest`` as it
was; the stale ``.staging-*`` folder it leaves is removed by the next publish.

A mart whose published content has not changed since the latest version is not
written again: its two files are hard links of the latest version's (a copy where
linking fails), so every version stays a complete folder that outlives the pruning
of the others. "Unchanged" is decided before writing, from a digest of the
disclosed table and of everything else the files' bytes depend on
(`_content_digest`, `_format_digest`), recorded per mart in the manifest as
``content_sha256``; a carried file is hashed again and must match the sha256 and
size the latest manifest records, or the mart is written from scratch. The
manifest names the version a mart was carried from (``carried_from``).

Test-only: ``FOSTERING_PUBLISH_PAUSE_AFTER_FILES=<n>`` makes the writer sleep
(``FOSTERING_PUBLISH_PAUSE_SECONDS``, default 300) after placing its n-th file (written
or carried) in the staging folder, so a test can kill a publish half way. Never set it in a deployment.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import stat
import sys
from collections.abc import Callable
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from orchestration import __version__
from orchestration.code_digest import code_digest
from orchestration.locks import exclusive_lock
from orchestration.publish import rounding as rounding_rules
from orchestration.publish.dictionary import DICTIONARY_CSV, dictionary_csv, dictionary_rows
from orchestration.publish.disclosure import FLAG_SUFFIX, WITHHELD, apply_disclosure, count_withheld, load_rules
from orchestration.warehouse import connect

MARTS_SPEC_VERSION = "v1"
LATEST = "latest"
LATEST_JSON = "latest.json"
MANIFEST = "manifest.json"
STAGING_PREFIX = ".staging-"
LOCK_NAME = ".publish.lock"
VERSION_RE = re.compile(r"^(\d{8}T\d{6}Z)(?:-(\d+))?$")
# What a spreadsheet would run as a formula when it starts a cell (OWASP CSV injection).
FORMULA_START = r"^[=+\-@\t\r]"
PARQUET_COMPRESSION = "snappy"
FORMS = ("parquet", "csv")  # the files of one mart, in the order they are written

PAUSE_AFTER_FILES_ENV = "FOSTERING_PUBLISH_PAUSE_AFTER_FILES"  # test-only
PAUSE_SECONDS_ENV = "FOSTERING_PUBLISH_PAUSE_SECONDS"  # test-only

# Integers and booleans come into pandas as nullable types, so a withheld count stays an integer.
_NULLABLE = {
    pa.int8(): pd.Int8Dtype(), pa.int16(): pd.Int16Dtype(), pa.int32(): pd.Int32Dtype(), pa.int64(): pd.Int64Dtype(),
    pa.uint8(): pd.UInt8Dtype(), pa.uint16(): pd.UInt16Dtype(), pa.uint32(): pd.UInt32Dtype(), pa.uint64(): pd.UInt64Dtype(),
    pa.bool_(): pd.BooleanDtype(),
}


class PublishBusy(RuntimeError):
    """Another publish is writing the same publish folder."""


@dataclass(frozen=True)
class PublishResult:
    version: str
    path: Path  # the published version folder
    rows: dict[str, int] = field(default_factory=dict)  # rows per mart
    withheld: dict[str, int] = field(default_factory=dict)  # withheld cells per mart
    seconds: float = 0.0
    unchanged: bool = False  # the marts equal the latest publish's: no new version was made
    carried: list[str] = field(default_factory=list)  # marts carried (hard-linked) from the previous version

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST


def publish(
    warehouse: Path,
    publish_dir: Path,
    *,
    keep: int,
    threshold: int,
    checks: list[dict] | None = None,
    now: dt.datetime | None = None,
    skip_unchanged: bool = False,
    finish: Callable[[Path], None] | None = None,
) -> PublishResult:
    """Publish every mart of `warehouse` as a new version in `publish_dir` and make it the latest.

    The caller decides whether the quality gate allows a publish; the results it
    passes as `checks` are recorded in the manifest as they are. With
    `skip_unchanged`, a publish whose data files and returns equal the latest's
    makes no new version (the latest stays, and the result says `unchanged`).
    `finish` is given the complete version folder before it is switched in, to add
    to it (the report), so `latest` never points at a version without it. A mart
    whose content is unchanged since the latest version is carried, not rewritten
    (its files hard-linked; `PublishResult.carried` names them).
    """
    started = time.perf_counter()
    warehouse, publish_dir = Path(warehouse), Path(publish_dir)
    if keep < 0:
        raise ValueError(f"keep must be >= 0, not {keep}")
    if not warehouse.is_file():
        raise FileNotFoundError(f"no warehouse at {warehouse}: run the pipeline first")
    created = _utc(now)
    publish_dir.mkdir(parents=True, exist_ok=True)
    with _publish_lock(publish_dir):
        previous = _previous(publish_dir)  # what a mart whose content did not change is carried from
        tables, sql_types, returns = _read_warehouse(warehouse)
        frames = {name: table.to_pandas(types_mapper=_NULLABLE.get) for name, table in tables.items()}
        disclosed = apply_disclosure(frames, threshold)
        version = _new_version(publish_dir, created)
        staging = publish_dir / f"{STAGING_PREFIX}{version}"
        staging.mkdir()
        try:
            manifest = _write_version(staging, version, created, tables, sql_types, disclosed, returns, threshold, checks, previous)
            same = _same_as_latest(publish_dir, manifest) if skip_unchanged else None
            if same is not None:  # nothing new to publish: the latest stays as it is
                shutil.rmtree(staging)
                _prune(publish_dir, keep, same["version"])  # still clear what a killed publish left
                return _result(same, publish_dir / same["version"], started, unchanged=True)
            if finish is not None:
                finish(staging)
            _fsync(staging)
            final = publish_dir / version
            os.rename(staging, final)  # same filesystem: atomic
            _fsync(publish_dir)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        _switch_latest(publish_dir, version, created)
        _prune(publish_dir, keep, version)
    return _result(manifest, final, started)


def _result(manifest: dict, path: Path, started: float, unchanged: bool = False) -> PublishResult:
    return PublishResult(
        version=manifest["version"],
        path=Path(path).resolve(),
        rows={m["name"]: m["rows"] for m in manifest["marts"]},
        withheld=dict(manifest["disclosure"]["withheld_cells"]),
        seconds=time.perf_counter() - started,
        unchanged=unchanged,
        carried=[m["name"] for m in manifest["marts"] if m.get("carried_from")],
    )


def _fingerprint(manifest: dict) -> tuple:
    """What a publish says: its data files and the returns they came from (not when it was made)."""
    files = sorted((m["name"], f["sha256"]) for m in manifest["marts"] for f in m["files"].values())
    returns = sorted(r["submission_id"] for r in manifest["returns"])
    dictionary = (manifest.get("dictionary_file") or {}).get("sha256")  # a changed description is news too
    return files, returns, manifest["disclosure"]["threshold"], dictionary


def _same_as_latest(publish_dir: Path, manifest: dict) -> dict | None:
    """The latest publish's manifest when the new one would publish exactly the same; else None."""
    latest = read_latest(publish_dir)
    if latest is None or not (latest / MANIFEST).exists():
        return None
    previous = json.loads((latest / MANIFEST).read_text(encoding="utf-8"))
    return previous if _fingerprint(previous) == _fingerprint(manifest) else None


def read_latest(publish_dir: Path) -> Path | None:
    """The folder of the latest complete publish (resolved, so a reader stays on one version), or None."""
    publish_dir = Path(publish_dir)
    link = publish_dir / LATEST
    if link.is_symlink() or link.exists():
        target = link.resolve()
        if (target / MANIFEST).is_file():
            return target
    pointer = publish_dir / LATEST_JSON
    if pointer.is_file():
        try:
            version = json.loads(pointer.read_text(encoding="utf-8"))["version"]
        except (ValueError, KeyError, TypeError):
            return None
        target = publish_dir / str(version)
        if VERSION_RE.match(str(version)) and (target / MANIFEST).is_file():
            return target.resolve()
    return None


def versions(publish_dir: Path) -> list[str]:
    """The complete version folders in `publish_dir`, oldest first."""
    publish_dir = Path(publish_dir)
    if not publish_dir.is_dir():
        return []
    found = [p.name for p in publish_dir.iterdir() if p.is_dir() and not p.is_symlink() and VERSION_RE.match(p.name)]
    return sorted(found, key=_version_key)


# --- reading -------------------------------------------------------------------------


def _read_warehouse(warehouse: Path) -> tuple[dict[str, pa.Table], dict[str, dict[str, str]], list[dict]]:
    """Every mart (as Arrow), its columns' SQL types, and the current returns; the connection is closed on return."""
    with connect(warehouse, read_only=True) as con:
        names = [n for (n,) in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts' ORDER BY table_name"
        ).fetchall()]
        if not names:
            raise RuntimeError(f"the warehouse {warehouse} has no marts to publish: build them first")
        sql_types: dict[str, dict[str, str]] = {n: {} for n in names}
        for table, column, data_type in con.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'marts' ORDER BY table_name, ordinal_position"
        ).fetchall():
            if table in sql_types:
                sql_types[table][column] = data_type
        # ORDER BY ALL: the same warehouse always gives the same files (and checksums).
        tables = {n: con.sql(f'SELECT * FROM marts."{n}" ORDER BY ALL').to_arrow_table() for n in names}
        cursor = con.execute(
            "SELECT submission_id, la_code, strftime(period, '%Y-%m') AS period, submitted_at, status, contract_version "
            "FROM ops.submissions WHERE is_current ORDER BY la_code, period, submission_id"
        )
        columns = [d[0] for d in cursor.description]
        returns = [dict(zip(columns, row)) for row in cursor.fetchall()]
    for r in returns:  # the LA's sign-off time as written (no time zone), to the second
        if isinstance(r["submitted_at"], dt.datetime):
            r["submitted_at"] = r["submitted_at"].strftime("%Y-%m-%dT%H:%M:%S")
    return tables, sql_types, returns


# --- writing -------------------------------------------------------------------------


class _FileCounter:
    """Counts files placed in the staging folder (written or carried); the test-only pause hangs off it."""

    def __init__(self) -> None:
        self.written = 0
        pause = os.environ.get(PAUSE_AFTER_FILES_ENV, "").strip()
        self.pause_after = int(pause) if pause else None
        self.pause_seconds = float(os.environ.get(PAUSE_SECONDS_ENV, "300"))

    def wrote(self, path: Path) -> None:
        self.written += 1
        if self.pause_after is not None and self.written == self.pause_after:
            # the process's own stderr: during a run sys.stderr is the run's log (pipeline.run_pipeline)
            print(f"publish: test-only pause after {self.written} file(s) ({path.name})", file=sys.__stderr__, flush=True)
            time.sleep(self.pause_seconds)


def _write_version(staging, version, created, tables, sql_types, disclosed, returns, threshold, checks, previous=None) -> dict:
    rules = load_rules()
    rounding = rounding_rules.load_rules()
    counter = _FileCounter()
    form = _format_digest()
    marts = []
    for name, table in tables.items():
        # rounded after disclosure control (which works on exact figures), before the digest
        base = rounding_rules.published_schema(name, table.schema.remove_metadata(), rounding)
        frame = rounding_rules.round_frame(name, disclosed[name], base, rounding)
        schema = _published_schema(frame, base)
        published = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
        content = _content_digest(name, published, form)

        files = _carry(name, content, previous, staging, counter)
        carried_from = previous.version if files is not None else None
        if files is None:  # new or changed content (or nothing trustworthy to carry): written from scratch
            parquet_path = staging / f"{name}.parquet"
            pq.write_table(published, parquet_path, compression=PARQUET_COMPRESSION)
            counter.wrote(parquet_path)
            csv_path = staging / f"{name}.csv"
            _write_csv(frame, schema, csv_path)
            counter.wrote(csv_path)
            files = {"parquet": _file_entry(parquet_path), "csv": _file_entry(csv_path)}

        kinds = rules.marts[name].kind_of
        columns = [
            {
                "name": f.name,
                "type": _sql_type(f, sql_types[name]),
                "arrow_type": str(f.type),
                "disclosure": kinds.get(f.name) or ("withheld_list" if f.name == WITHHELD else "withheld_flag"),
            }
            for f in schema
        ]
        marts.append({
            "name": name,
            "rows": published.num_rows,
            "columns": columns,
            "files": files,
            "content_sha256": content,
            "carried_from": carried_from,  # the version whose files these are (hard links), or None: written here
        })

    from orchestration.returns.schema import known_versions

    manifest = {
        "version": version,
        "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "pipeline_version": __version__,
        "marts_spec_version": MARTS_SPEC_VERSION,
        "return_contract_versions": known_versions(),
        "returns": returns,
        "checks": list(checks or []),
        "disclosure": {
            "threshold": threshold,
            "withheld_cells": {name: count_withheld(disclosed[name]) for name in tables},
            "rules": rules.summary(),
        },
        "marts": marts,
        "csv": {
            "encoding": "utf-8", "delimiter": ",", "null": "",
            "formula_guard": "text values starting with = + - @ tab or CR are prefixed with '",
            "timestamps": "ISO 8601 to the second: YYYY-MM-DDTHH:MM:SSZ in UTC, or YYYY-MM-DDTHH:MM:SS without Z where the time is the LA's own, as written",
            "booleans": "True / False",
        },
        "rounding": {
            "mode": "half to even, after disclosure control; the warehouse keeps full precision",
            "classes": {k: f"{v} decimal places" for k, v in rounding.places.items()},
        },
    }
    manifest["dictionary"] = dictionary_rows(marts, rounding)
    dictionary_path = staging / DICTIONARY_CSV
    _write_bytes(dictionary_path, dictionary_csv(manifest["dictionary"]))
    counter.wrote(dictionary_path)
    manifest["dictionary_file"] = _file_entry(dictionary_path)
    manifest_path = staging / MANIFEST
    _write_bytes(manifest_path, (json.dumps(manifest, indent=2, default=str) + "\n").encode("utf-8"))
    counter.wrote(manifest_path)
    return manifest


def _published_schema(frame: pd.DataFrame, base: pa.Schema) -> pa.Schema:
    """The mart's published schema: its own columns (`base`), the withheld flags (boolean) and list, in frame order."""
    fields = []
    for column in frame.columns:
        if column in base.names:
            fields.append(base.field(column))
        elif column == WITHHELD:
            fields.append(pa.field(WITHHELD, pa.string(), nullable=False))
        else:  # a `<column>_withheld` flag added by disclosure control
            assert column.endswith(FLAG_SUFFIX), column
            fields.append(pa.field(column, pa.bool_(), nullable=False))
    return pa.schema(fields)


def _sql_type(f: pa.Field, sql_types: dict[str, str]) -> str:
    """The published column's SQL type: the warehouse's, but for the columns the publish adds or relabels."""
    if f.name not in sql_types:
        return "BOOLEAN" if pa.types.is_boolean(f.type) else "VARCHAR"
    if pa.types.is_timestamp(f.type) and f.type.tz is not None:
        return "TIMESTAMP WITH TIME ZONE"
    return sql_types[f.name]


# --- carrying what did not change ----------------------------------------------------


@dataclass(frozen=True)
class _Previous:
    """The latest version, which a mart whose content did not change is carried from."""

    version: str  # its folder's name
    path: Path
    marts: dict[str, dict]  # its manifest's entry per mart


def _previous(publish_dir: Path) -> _Previous | None:
    latest = read_latest(publish_dir)
    if latest is None:
        return None
    try:
        manifest = json.loads((latest / MANIFEST).read_text(encoding="utf-8"))
        marts = {str(m["name"]): m for m in manifest["marts"]}
    except (OSError, ValueError, KeyError, TypeError):
        return None  # nothing trustworthy to carry: every mart is written
    return _Previous(latest.name, latest, marts)


def _format_digest() -> str | None:
    """Everything besides a mart's table that its files' bytes depend on: the writer's code and options, the libraries.

    The writer's own source is in it, so a change to how files are written is never hidden by a
    carried file written the old way; None (nothing is carried) when the source cannot be read.
    """
    return code_digest(
        [Path(__file__)],
        marts_spec_version=MARTS_SPEC_VERSION,
        parquet_compression=PARQUET_COMPRESSION,
        formula_start=FORMULA_START,
    )


def _flat(kind: pa.DataType) -> bool:
    return any(test(kind) for test in (
        pa.types.is_boolean, pa.types.is_integer, pa.types.is_floating, pa.types.is_decimal, pa.types.is_string,
        pa.types.is_large_string, pa.types.is_date, pa.types.is_timestamp, pa.types.is_time, pa.types.is_null,
    ))


def _content_digest(name: str, table: pa.Table, form: str | None) -> str | None:
    """A digest of what one mart publishes, taken before anything is written; None when it cannot be taken safely.

    It covers the mart's name, the published table's schema (with the pandas metadata that goes
    into the Parquet file, which records each column's pandas type), its rows and `form`
    (`_format_digest`). The CSV is written from the same frame the table is made from, and each
    value of that frame is the pandas form of an Arrow value, so an equal table gives an equal CSV.

    Only published values go in. A withheld cell is null, but Arrow keeps the value it replaced
    under the null slot (pandas' nullable integers keep their data), and this digest is published
    in the manifest: hashing the raw buffers (or an IPC stream of the table) would let anyone
    recover a withheld count by trying 1 to 5. So each column is hashed as the positions of its
    nulls and its non-null values (`drop_null`), each as one IPC message. Nested columns (none in
    the marts) could hide values in their children: such a mart is never carried.
    """
    if form is None or not all(_flat(f.type) for f in table.schema):
        return None
    digest = hashlib.sha256()
    digest.update(f"{form}\0{name}\0{table.num_rows}\0".encode("utf-8"))
    digest.update(table.schema.serialize())
    for column in table.columns:
        values = column.combine_chunks()
        nulls = pc.indices_nonzero(values.is_null())
        kept = values.drop_null()
        if pa.types.is_boolean(kept.type):  # whole bytes: no bits past the end of a bitmap
            kept = kept.cast(pa.uint8())
        digest.update(pa.record_batch([nulls], names=["nulls"]).serialize())
        digest.update(pa.record_batch([kept], names=["values"]).serialize())
    return digest.hexdigest()


def _carry(name: str, content: str | None, previous: _Previous | None, staging: Path, counter: _FileCounter) -> dict | None:
    """The latest version's files of a mart whose content is unchanged, placed in `staging`; None to write them afresh.

    Carried only when the latest manifest records the same content digest for the mart and each
    of its files, once placed (a hard link, else a copy), has the sha256 and size recorded there:
    a previous file that was damaged or edited is never carried forward.
    """
    if previous is None or content is None:
        return None
    entry = previous.marts.get(name)
    if not isinstance(entry, dict) or entry.get("content_sha256") != content:
        return None
    placed: list[Path] = []
    files: dict[str, dict] = {}
    try:
        for form in FORMS:
            filename = f"{name}.{form}"
            recorded = entry["files"][form]
            if recorded["path"] != filename:
                return _undo(placed)
            source = previous.path / filename
            found = os.lstat(source)
            if not stat.S_ISREG(found.st_mode) or found.st_size != recorded["bytes"]:
                return _undo(placed)  # cheap, before anything is hashed
            target = staging / filename
            _link_or_copy(source, target)
            placed.append(target)
            if not stat.S_ISREG(os.lstat(target).st_mode):
                return _undo(placed)
            # the bytes now in the new version, hashed once (a link: the very file the latest holds)
            entry_now = _file_entry(target)
            if entry_now != {"path": filename, "sha256": recorded["sha256"], "bytes": recorded["bytes"]}:
                return _undo(placed)
            files[form] = entry_now
            counter.wrote(target)
    except (OSError, KeyError, TypeError):
        return _undo(placed)
    return files


def _undo(placed: list[Path]) -> None:
    for path in placed:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return None


def _link_or_copy(source: Path, target: Path) -> None:
    """A hard link of `source` at `target` (nothing written, already durable), else a copy.

    A version's files are never changed once it is published, so two versions can share them;
    removing one version (pruning) only removes its names, never the other's.
    """
    try:
        os.link(source, target, follow_symlinks=False)
    except (OSError, NotImplementedError):  # no hard links here: another file system, EPERM, EMLINK...
        shutil.copy2(source, target, follow_symlinks=False)


# --- writing the files ---------------------------------------------------------------


def neutralise_formulas(values: pd.Series) -> pd.Series:
    """Text a spreadsheet would run as a formula, prefixed with ' so it is shown as text."""
    text = values.astype(object)
    risky = text.str.match(FORMULA_START, na=False).astype(bool)
    return text.mask(risky, "'" + text.where(risky, ""))


def _csv_frame(frame: pd.DataFrame, schema: pa.Schema) -> pd.DataFrame:
    out = frame.copy()
    for f in schema:
        if pa.types.is_string(f.type) or pa.types.is_large_string(f.type):
            out[f.name] = neutralise_formulas(out[f.name])
        elif pa.types.is_timestamp(f.type):  # ISO 8601 to the second; Z only where it is UTC
            stamps = pd.to_datetime(out[f.name])
            out[f.name] = stamps.dt.strftime("%Y-%m-%dT%H:%M:%SZ" if f.type.tz is not None else "%Y-%m-%dT%H:%M:%S")
    return out


def _write_csv(frame: pd.DataFrame, schema: pa.Schema, path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        _csv_frame(frame, schema).to_csv(handle, index=False, na_rep="", lineterminator="\n")
        handle.flush()
        os.fsync(handle.fileno())


def _write_bytes(path: Path, data: bytes) -> None:
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _file_entry(path: Path) -> dict:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
        os.fsync(handle.fileno())
    return {"path": path.name, "sha256": digest.hexdigest(), "bytes": path.stat().st_size}


# --- switching and pruning -----------------------------------------------------------


def _switch_latest(publish_dir: Path, version: str, created: dt.datetime) -> None:
    """Point `latest` and `latest.json` at `version`; each replaced in one rename, never missing."""
    tmp_link = publish_dir / f".{LATEST}.tmp-{os.getpid()}"
    with contextlib.suppress(FileNotFoundError):
        tmp_link.unlink()
    os.symlink(version, tmp_link)  # relative: the publish folder can be moved or mounted elsewhere
    os.replace(tmp_link, publish_dir / LATEST)
    # "path" relative to the publish folder, like the symlink, so the folder can be moved or mounted elsewhere
    pointer = {"version": version, "path": version, "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ")}
    tmp_json = publish_dir / f".{LATEST_JSON}.tmp-{os.getpid()}"
    _write_bytes(tmp_json, (json.dumps(pointer, indent=2) + "\n").encode("utf-8"))
    os.replace(tmp_json, publish_dir / LATEST_JSON)
    _fsync(publish_dir)


def _prune(publish_dir: Path, keep: int, current: str) -> None:
    """Keep the latest and the newest `keep` other versions; remove leftovers of killed publishes."""
    others = [v for v in versions(publish_dir) if v != current]
    for old in others[: max(len(others) - keep, 0)]:
        shutil.rmtree(publish_dir / old, ignore_errors=True)
    # Holding the publish lock, no other publish is running: these are stale.
    for entry in publish_dir.iterdir():
        if entry.name.startswith(STAGING_PREFIX) and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        elif entry.name.startswith((f".{LATEST}.tmp-", f".{LATEST_JSON}.tmp-")):
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()


# --- helpers -------------------------------------------------------------------------


def _utc(now: dt.datetime | None) -> dt.datetime:
    now = now or dt.datetime.now(dt.timezone.utc)
    if now.tzinfo is None:  # a naive time is taken as UTC
        now = now.replace(tzinfo=dt.timezone.utc)
    return now.astimezone(dt.timezone.utc).replace(microsecond=0)


def _version_key(name: str) -> tuple[str, int]:
    match = VERSION_RE.match(name)
    return (match.group(1), int(match.group(2) or 1)) if match else ("", 0)


def _new_version(publish_dir: Path, created: dt.datetime) -> str:
    base = created.strftime("%Y%m%dT%H%M%SZ")
    candidate, n = base, 1
    while (publish_dir / candidate).exists() or (publish_dir / f"{STAGING_PREFIX}{candidate}").exists():
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _publish_lock(publish_dir: Path, timeout_s: float = 600.0):
    """One publish at a time per publish folder (released by the kernel if the process dies)."""
    lock_path = publish_dir / LOCK_NAME
    return exclusive_lock(lock_path, PublishBusy(f"another publish is writing {publish_dir} (lock {lock_path})"), timeout_s)


