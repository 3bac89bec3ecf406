"""Publishing the marts: disclosure-controlled Parquet and CSV, versioned, switched atomically.

A publish reads every table of the warehouse's ``marts`` schema (read-only),
withholds small numbers (`disclosure.apply_disclosure`), and writes each mart as
Parquet and CSV plus a ``manifest.json`` into ``<publish_dir>/.staging-<version>``.
Only when everything is written and synced is the folder renamed to
``<publish_dir>/<version>`` and the pointers switched:

    <publish_dir>/
        20261122T093312Z/           one complete publish (version = UTC time)
            mart_benchmark.parquet  mart_benchmark.csv   ... one pair per mart
            manifest.json
        20261121T180000Z/           older publishes, the newest `keep` kept
        latest -> 20261122T093312Z  symlink, replaced with os.replace (never missing)
        latest.json                 {"version", "path", "created_at"}, for tools that cannot follow symlinks
        .publish.lock               one publish at a time

A reader of ``latest`` (or `read_latest`) therefore only ever sees a complete
publish, and a publish that fails or is killed half way leaves ``latest`` as it
was; the stale ``.staging-*`` folder it leaves is removed by the next publish.

Test-only: ``FOSTERING_PUBLISH_PAUSE_AFTER_FILES=<n>`` makes the writer sleep
(``FOSTERING_PUBLISH_PAUSE_SECONDS``, default 300) after writing its n-th file into
the staging folder, so a test can kill a publish half way. Never set it in a deployment.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import sys
from collections.abc import Callable
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from orchestration import __version__
from orchestration.locks import exclusive_lock
from orchestration.publish.disclosure import WITHHELD, apply_disclosure, count_withheld, load_rules
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
    to it (the report), so `latest` never points at a version without it.
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
        tables, sql_types, returns = _read_warehouse(warehouse)
        frames = {name: table.to_pandas(types_mapper=_NULLABLE.get) for name, table in tables.items()}
        disclosed = apply_disclosure(frames, threshold)
        version = _new_version(publish_dir, created)
        staging = publish_dir / f"{STAGING_PREFIX}{version}"
        staging.mkdir()
        try:
            manifest = _write_version(staging, version, created, tables, sql_types, disclosed, returns, threshold, checks)
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
    )


def _fingerprint(manifest: dict) -> tuple:
    """What a publish says: its data files and the returns they came from (not when it was made)."""
    files = sorted((m["name"], f["sha256"]) for m in manifest["marts"] for f in m["files"].values())
    returns = sorted(r["submission_id"] for r in manifest["returns"])
    return files, returns, manifest["disclosure"]["threshold"]


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
    for r in returns:
        if isinstance(r["submitted_at"], dt.datetime):
            r["submitted_at"] = r["submitted_at"].isoformat()
    return tables, sql_types, returns


# --- writing -------------------------------------------------------------------------


class _FileCounter:
    """Counts files written into the staging folder; the test-only pause hangs off it."""

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


def _write_version(staging, version, created, tables, sql_types, disclosed, returns, threshold, checks) -> dict:
    rules = load_rules()
    counter = _FileCounter()
    marts = []
    for name, table in tables.items():
        frame = disclosed[name]
        schema = table.schema.remove_metadata()
        if WITHHELD in frame.columns:
            schema = schema.append(pa.field(WITHHELD, pa.string(), nullable=False))
        published = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)

        parquet_path = staging / f"{name}.parquet"
        pq.write_table(published, parquet_path, compression="snappy")
        counter.wrote(parquet_path)
        csv_path = staging / f"{name}.csv"
        _write_csv(frame, schema, csv_path)
        counter.wrote(csv_path)

        kinds = rules.marts[name].kind_of
        columns = [
            {
                "name": f.name,
                "type": sql_types[name].get(f.name, "VARCHAR"),
                "arrow_type": str(f.type),
                "disclosure": "withheld_list" if f.name == WITHHELD else kinds[f.name],
            }
            for f in schema
        ]
        marts.append({
            "name": name,
            "rows": published.num_rows,
            "columns": columns,
            "files": {"parquet": _file_entry(parquet_path), "csv": _file_entry(csv_path)},
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
        "csv": {"encoding": "utf-8", "delimiter": ",", "null": "", "formula_guard": "text values starting with = + - @ tab or CR are prefixed with '"},
    }
    manifest_path = staging / MANIFEST
    _write_bytes(manifest_path, (json.dumps(manifest, indent=2, default=str) + "\n").encode("utf-8"))
    counter.wrote(manifest_path)
    return manifest


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
        elif pa.types.is_timestamp(f.type):
            stamps = pd.to_datetime(out[f.name])
            fmt = "%Y-%m-%d %H:%M:%S.%f" if (stamps.dt.microsecond.fillna(0) != 0).any() else "%Y-%m-%d %H:%M:%S"
            out[f.name] = stamps.dt.strftime(fmt)
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
    pointer = {"version": version, "path": str((publish_dir / version).resolve()), "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ")}
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


