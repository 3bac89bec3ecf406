"""End to end through the `fostering` command, as a user types it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from orchestration.returns.writers import write_return
from tests.conftest import PROJECT_ROOT
from tests.fixtures.returns import good_tables

# The installed console script, exactly as a user types it.
FOSTERING = [str(Path(sys.executable).parent / "fostering")]


def fostering(*args, env=None, check=True):
    run_env = {**os.environ, **(env or {})}
    result = subprocess.run([*FOSTERING, *map(str, args)], capture_output=True, text=True, env=run_env, cwd=PROJECT_ROOT)
    if check and result.returncode not in (0, 1):
        raise AssertionError(f"exit {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


def _broken(landing: Path) -> Path:
    tables = {k: v.astype(object) for k, v in good_tables().items()}
    tables["households"].loc[0, "places_vacant"] = 71
    tables["placements"].loc[1, "weekly_cost"] = "lots"
    return write_return(tables, landing / "broken.xlsx", "xlsx")


def test_validate_good_return_exits_0(good_return):
    result = fostering("validate", good_return)
    assert result.returncode == 0, result.stdout
    assert "accepted" in result.stdout and "0 error(s)" in result.stdout


def test_validate_broken_return_lists_every_finding_with_row_and_column(landing):
    path = _broken(landing)
    result = fostering("validate", path)
    assert result.returncode == 1
    assert "HH-PLACES-SUM: sheet 'households', row 2, column approved_places (C)" in result.stdout
    assert "CELL-WRONG-TYPE: sheet 'placements', row 3, column weekly_cost (K). Found: lots." in result.stdout


def test_validate_json_for_machines(landing, good_return):
    _broken(landing)
    result = fostering("validate", landing, "--format", "json")
    assert result.returncode == 1
    records = {Path(r["path"]).name: r for r in json.loads(result.stdout)}
    assert records["2023-09.zip"]["status"] == "accepted"
    broken = records["broken.xlsx"]
    assert broken["status"] == "rejected"
    assert {f["code"] for f in broken["findings"]} == {"HH-PLACES-SUM", "CELL-WRONG-TYPE"}
    assert all({"code", "severity", "table", "row", "column", "column_letter", "value", "expected"} <= f.keys() for f in broken["findings"])


def test_template_writes_a_workbook(tmp_path):
    out = tmp_path / "blank.xlsx"
    result = fostering("template", out)
    assert result.returncode == 0 and out.stat().st_size > 0


def test_run_ingests_then_changes_nothing_the_second_time(tmp_path, landing, good_return):
    _broken(landing)
    warehouse = tmp_path / "wh" / "warehouse.duckdb"
    first = fostering("run", "--landing", landing, "--warehouse", warehouse)
    assert first.returncode == 0, first.stderr
    assert "1 return(s) accepted" in first.stdout and "1 rejected" in first.stdout
    assert "broken.xlsx ->" in first.stdout

    def snapshot():
        with duckdb.connect(str(warehouse), read_only=True) as con:
            return con.execute("SELECT * FROM ops.submissions ORDER BY submission_id").fetchall(), con.execute(
                "SELECT count(*) FROM raw.placements"
            ).fetchone()

    before = snapshot()
    latest = (warehouse.parent / "published" / "latest").resolve()
    second = fostering("run", "--landing", landing, "--warehouse", warehouse)
    assert second.returncode == 0
    assert "2 already received" in second.stdout
    assert snapshot() == before
    assert "Nothing new to publish" in second.stdout
    assert (warehouse.parent / "published" / "latest").resolve() == latest


def test_run_refuses_production_without_a_real_key(tmp_path, good_return, landing):
    result = fostering("run", "--landing", landing, "--warehouse", tmp_path / "w.duckdb", env={"FOSTERING_ENV": "production", "FOSTERING_PSEUDONYM_KEY": ""}, check=False)
    assert result.returncode == 2
    assert "FOSTERING_PSEUDONYM_KEY" in result.stderr
    assert not (tmp_path / "w.duckdb").exists()


@pytest.mark.slow
def test_bundled_sample_validates_without_errors_and_ingests(tmp_path):
    sample = PROJECT_ROOT / "raw" / "sample"
    result = fostering("validate", sample, "--format", "json")
    records = json.loads(result.stdout)
    assert result.returncode == 0, [r for r in records if r["errors"]][:1]
    assert len(records) >= 8 * 30

    warehouse = tmp_path / "warehouse.duckdb"
    run = fostering("run", "--warehouse", warehouse)
    assert run.returncode == 0, run.stderr
    with duckdb.connect(str(warehouse), read_only=True) as con:
        las = con.execute("SELECT count(DISTINCT la_code), count(*) FILTER (WHERE status = 'rejected') FROM ops.submissions").fetchone()
        superseded = con.execute("SELECT count(*) FROM ops.submissions WHERE superseded_by IS NOT NULL").fetchone()[0]
        marts = {n for (n,) in con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts'").fetchall()}
    assert las == (8, 0)
    assert superseded >= 1  # the bundled resubmission replaced its first version
    # a first load builds and tests every month (dbt's unit tests run in tests/test_dbt_unit_tests.py)
    assert len(marts) == 8 and "every data test of the months built passing" in run.stdout
