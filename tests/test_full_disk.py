"""A full disk under the data folder stops the ingest plainly, and loses or duplicates nothing (issue 12).

The data folder (warehouse, archive, findings) is put on a tmpfs far too small
for the landing folder's returns; the ingest must stop with the disk's error
(never blaming a return: nothing is recorded as rejected), and once there is
room again the next ingest takes every return exactly once.
"""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import duckdb
import pytest

from orchestration.ingest import ingest_landing
from orchestration.returns.writers import write_return
from orchestration.settings import load_settings
from tests.fixtures.returns import good_tables

RETURNS = 40


def _mount(target: Path, size: str) -> None:
    target.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(target)], capture_output=True, text=True)
    if done.returncode != 0:
        if os.geteuid() != 0 or "permission" in done.stderr.lower() or "only root" in done.stderr.lower():
            pytest.skip(f"mounting a tmpfs needs root: {done.stderr.strip()}")
        raise AssertionError(done.stderr)


@pytest.fixture
def small_data_folder(tmp_path):
    data = tmp_path / "data"
    _mount(data, "700k")
    try:
        yield data
    finally:
        subprocess.run(["umount", "-l", str(data)], check=False)


def _landing(folder: Path) -> list[Path]:
    las = ["E08000001", "E08000002", "E08000009"]
    return [
        write_return(
            good_tables(la_code=las[i % 3], submitted_at=f"2023-10-{5 + i % 20:02d} 10:{i:02d}:00"), folder / f"r{i:02d}.xlsx", "xlsx"
        )
        for i in range(RETURNS)
    ]


def _ledger(warehouse: Path) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute("SELECT submission_id, status FROM ops.submissions").fetchall()


def test_a_full_disk_stops_the_ingest_and_the_next_one_takes_every_return_exactly_once(tmp_path, small_data_folder):
    landing = tmp_path / "landing"
    _landing(landing)
    settings = load_settings({"FOSTERING_LANDING": str(landing), "FOSTERING_WAREHOUSE": str(small_data_folder / "warehouse.duckdb")})

    with pytest.raises((OSError, duckdb.Error)) as stopped:
        ingest_landing(settings)
    assert "No space left on device" in str(stopped.value) or getattr(stopped.value, "errno", None) == errno.ENOSPC
    before = _ledger(settings.warehouse) if settings.warehouse.exists() else []
    assert len(before) < RETURNS and all(status == "accepted" for _, status in before)  # no return blamed for the disk

    subprocess.run(["mount", "-o", "remount,size=64m", str(small_data_folder)], check=True)
    again = ingest_landing(settings)

    ledger = _ledger(settings.warehouse)
    assert len(ledger) == RETURNS and len({sid for sid, _ in ledger}) == RETURNS
    assert {status for _, status in ledger} == {"accepted"}
    assert sum(o.status == "accepted" for o in again.outcomes) == RETURNS - len(before)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        per_return = con.execute("SELECT count(*) FROM raw.placements GROUP BY submission_id").fetchall()
    assert len(per_return) == RETURNS and {n for (n,) in per_return} == {4}  # every return's rows, once
    archived = sorted(p.name for p in settings.archive_dir.iterdir())
    assert archived == sorted(sid for sid, _ in ledger)  # one copy each, no partial left
    assert not list(settings.archive_dir.rglob(".*.partial"))
