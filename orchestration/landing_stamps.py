"""Returns already received are recognised by their file stamps, not by reading them again.

Hashing every file of a landing folder on every run took about 10 s for a
national folder of 18,000 returns, almost none of them new. So each return's
stamp (size, modification and status-change times, inode: of the file, or of
each CSV file of a folder) is recorded in `ops.landing_files` with the checksum
it had, and a return whose stamp equals its record is taken to have that
checksum without being read.

The status-change time (ctime) is what makes this safe: writing a file, or
setting its modification time back (`touch -d`, `os.utime`), sets it to the
clock, and nothing can set it back. A record is trusted only when that ctime was
more than `MARGIN_NS` older than the moment the file was stamped (before it was
hashed): a file changed in the same timestamp tick as the change recorded, or
while it was being hashed, then still gets a new ctime, so a later stamp never
matches a record for other bytes. A file seen within the margin of its last
change is simply hashed again on the next run (decision S8).

A stamp only ever says "already received": ingest trusts a recorded checksum only
when it is on the ledger, and hashes anything it is about to ingest.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from orchestration.returns.landing import csv_member_entries
from orchestration.warehouse import insert_frame

# Covers timestamp ticks (a jiffy on Linux, 2 s on FAT) and small clock differences with a file server.
MARGIN_NS = 2_000_000_000


@dataclass(frozen=True)
class Stamp:
    text: str  # what must be equal: "size:mtime_ns:ctime_ns:inode", or a digest of a folder's CSV files' names and stamps
    ctime_ns: int  # its (newest) status change, for the margin rule


def _file_text(info: os.stat_result) -> str:
    return f"{info.st_size}:{info.st_mtime_ns}:{info.st_ctime_ns}:{info.st_ino}"


def stamp(path: Path) -> Stamp | None:
    """A return's stamp; None when it has none (gone, a link, not a regular file or folder): hashing it then says why."""
    try:
        info = os.lstat(path)
        if stat.S_ISREG(info.st_mode):
            return Stamp(_file_text(info), info.st_ctime_ns)
        if not stat.S_ISDIR(info.st_mode):
            return None
        members = [(e.name, e.stat(follow_symlinks=False)) for e in csv_member_entries(path)]  # the files its checksum takes
    except OSError:
        return None
    if not all(stat.S_ISREG(i.st_mode) for _, i in members):
        return None
    lines = "".join(f"{name}\t{_file_text(i)}\n" for name, i in members)
    return Stamp("csv:" + hashlib.blake2b(lines.encode(), digest_size=16).hexdigest(), max((i.st_ctime_ns for _, i in members), default=0))


def recorded(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, str]]:
    """Every trusted record, in one query: {source path: (stamp, checksum)}."""
    rows = con.execute(
        "SELECT source_path, stamp, submission_id FROM ops.landing_files WHERE ctime_ns < epoch_ns(seen_at) - $margin",
        {"margin": MARGIN_NS},
    ).fetchall()
    return {source: (text, digest) for source, text, digest in rows}


def recorded_digest(known: dict[str, tuple[str, str]], source: str, now: Stamp | None) -> str | None:
    """The checksum recorded for this return when its stamp is still the one recorded, else None."""
    text, digest = known.get(source, (None, None))
    return digest if now is not None and now.text == text else None


def record(
    con: duckdb.DuckDBPyConnection, fresh: list[tuple[str, Stamp, str]], seen_ns: int, listed: list[str] | None = None
) -> None:
    """Record (source path, stamp, checksum) of the returns hashed this run, stamped at `seen_ns`;
    given the whole landing folder's `listed` source paths, forget the returns no longer there."""
    seen_at = dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=seen_ns // 1000)  # UTC, as received_at
    if listed is not None:
        con.register("listed", pd.DataFrame({"source_path": pd.Series(listed, dtype=object)}))
        try:
            con.execute("DELETE FROM ops.landing_files WHERE source_path NOT IN (SELECT source_path FROM listed)")
        finally:
            con.unregister("listed")
    frame = pd.DataFrame(
        {
            "source_path": [source for source, _, _ in fresh],
            "stamp": [s.text for _, s, _ in fresh],
            "ctime_ns": pd.Series([s.ctime_ns for _, s, _ in fresh], dtype="int64"),
            "submission_id": [digest for _, _, digest in fresh],
            "seen_at": seen_at,
        }
    ).drop_duplicates("source_path", keep="last")  # a path given twice: one row per key in one INSERT
    insert_frame(con, "ops.landing_files", frame, replace=True)
