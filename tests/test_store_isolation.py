"""One return can never fail a batch, a run or a later run (issue 12).

Validation decides what can be stored; should a value it let through still be
refused by the warehouse, the batch is stored return by return and only the
return that cannot be stored is rejected, with a finding naming its table. A
fault of the warehouse itself is never blamed on a return.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import duckdb
import numpy as np
import pytest

from orchestration import ingest, warehouse
from orchestration.ingest import ingest_landing
from orchestration.returns.writers import write_return
from orchestration.settings import load_settings
from tests.fixtures.broken import write_case
from tests.fixtures.returns import good_tables

NOW = dt.datetime(2023, 10, 21)


def _settings(tmp_path: Path):
    return load_settings({"FOSTERING_LANDING": str(tmp_path / "landing"), "FOSTERING_WAREHOUSE": str(tmp_path / "data" / "warehouse.duckdb")})


def _sha(path: Path) -> str:
    from orchestration.returns.landing import checksum

    return checksum(path)


def _three_returns(tmp_path: Path):
    landing = tmp_path / "landing"
    paths = [
        write_return(good_tables(la_code="E08000009"), landing / "a.xlsx", "xlsx"),
        write_return(good_tables(la_code="E08000001"), landing / "b.zip", "zip"),
        write_return(good_tables(la_code="E08000002"), landing / "c", "folder"),
    ]
    return [(p, _sha(p)) for p in paths]


def _rows(settings, sql: str, params=()):
    with warehouse.connect(settings.warehouse, read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def test_a_return_the_warehouse_refuses_is_rejected_and_the_rest_of_its_batch_lands(tmp_path):
    settings = _settings(tmp_path)
    batch = _three_returns(tmp_path)
    prepared = ingest.prepare_many(batch, settings, NOW)
    assert [p.outcome.status for p in prepared] == ["accepted"] * 3
    # a value validation let through (as `inf` once was) that DECIMAL(14, 2) cannot hold
    prepared[1].tables["placements"].loc[0, "weekly_cost"] = np.inf

    with warehouse.connect(settings.warehouse) as con:
        warehouse.ensure_schema(con)
        stored = ingest._store_isolated(con, prepared, settings, NOW)

    assert [p.outcome.status for p in stored] == ["accepted", "rejected", "accepted"]
    ledger = dict(_rows(settings, "SELECT submission_id, status FROM ops.submissions"))
    assert ledger == {batch[0][1]: "accepted", batch[1][1]: "rejected", batch[2][1]: "accepted"}
    placements = dict(_rows(settings, "SELECT submission_id, count(*) FROM raw.placements GROUP BY 1"))
    assert placements == {batch[0][1]: 4, batch[2][1]: 4}  # nothing of the refused return
    assert _rows(settings, "SELECT count(*) FROM raw.submission WHERE submission_id = ?", [batch[1][1]]) == [(0,)]
    finding = _rows(
        settings, "SELECT code, severity, table_name FROM ops.findings WHERE submission_id = ? AND code = 'STORE-FAILED'", [batch[1][1]]
    )
    assert finding == [("STORE-FAILED", "error", "placements")]
    report = json.loads((settings.data_dir / _rows(settings, "SELECT findings_json FROM ops.submissions WHERE submission_id = ?", [batch[1][1]])[0][0]).read_text())
    assert report["return"]["status"] == "rejected"
    assert [f["code"] for f in report["findings"]] == ["STORE-FAILED"]


def test_a_fault_of_the_warehouse_itself_is_raised_and_rejects_nothing(tmp_path, monkeypatch):
    settings = _settings(tmp_path)
    batch = _three_returns(tmp_path)
    prepared = ingest.prepare_many(batch, settings, NOW)

    def disk_full(con, target, frame):
        raise duckdb.IOException("could not write: No space left on device")

    with warehouse.connect(settings.warehouse) as con:
        warehouse.ensure_schema(con)
        monkeypatch.setattr(ingest, "insert_frame", disk_full)
        with pytest.raises(duckdb.IOException):
            ingest._store_isolated(con, prepared, settings, NOW)
    assert _rows(settings, "SELECT count(*) FROM ops.submissions") == [(0,)]  # taken again by the next run


@pytest.mark.parametrize("case", ["infinite_weekly_cost", "minus_infinity_actual", "count_past_2_63"])
def test_what_once_poisoned_every_run_is_rejected_and_later_runs_are_clean(tmp_path, case):
    """`inf`, `-Infinity` and 2**63 once failed the insert, the batch and every later run."""
    settings = _settings(tmp_path)
    landing = settings.landing
    write_return(good_tables(la_code="E08000001"), landing / "a-good.zip", "zip")
    bad = write_case(case, landing / "b", "folder")
    write_return(good_tables(la_code="E08000002"), landing / "c-good.xlsx", "xlsx")

    first = ingest_landing(settings)
    again = ingest_landing(settings)

    assert sorted((o.source, o.status) for o in first.outcomes) == [
        ("a-good.zip", "accepted"), (f"b/{bad.name}", "rejected"), ("c-good.xlsx", "accepted"),
    ]
    assert {o.status for o in again.outcomes} == {"already_received"}
    assert _rows(settings, "SELECT count(DISTINCT submission_id) FROM raw.placements") == [(2,)]


def test_sha_helper_matches_the_ledger(tmp_path):
    """The checksum these tests use is the ledger's (a guard on the helper itself)."""
    path = write_return(good_tables(), tmp_path / "x.xlsx", "xlsx")
    assert _sha(path) == hashlib.sha256(path.read_bytes()).hexdigest()
