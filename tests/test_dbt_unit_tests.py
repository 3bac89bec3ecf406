"""dbt's unit tests (the formulas on hand-worked inputs) run here, in the test suite and CI.

A production build leaves them out (`orchestration.assets.dbt.BUILD`): they
prove the SQL on fixed inputs, so they would give the same answer every month.
They need the models' parents to exist, so the models are first built empty
(`dbt build --empty`) on a warehouse with the ingest's tables and no rows.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

from orchestration.warehouse import connect, ensure_schema
from tests.conftest import PROJECT_ROOT

DBT = Path(sys.executable).parent / "dbt"
PROJECT = PROJECT_ROOT / "dbt_project"


def _dbt(args: list[str], warehouse: Path, target: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(DBT), *args, "--project-dir", str(PROJECT), "--profiles-dir", str(PROJECT), "--target-path", str(target)],
        capture_output=True, text=True, env={**os.environ, "FOSTERING_WAREHOUSE": str(warehouse), "FOSTERING_REFERENCE_DIR": str(PROJECT / "seeds")},
    )


def test_every_dbt_unit_test_passes(tmp_path):
    warehouse, target = tmp_path / "warehouse.duckdb", tmp_path / "target"
    with connect(warehouse) as con:
        ensure_schema(con)
    built = _dbt(["build", "--empty", "--exclude-resource-type", "unit_test"], warehouse, target)
    assert built.returncode == 0, built.stdout[-3000:]
    tested = _dbt(["test", "--resource-type", "unit_test"], warehouse, target)
    assert tested.returncode == 0, tested.stdout[-3000:]

    results = json.loads((target / "run_results.json").read_text())["results"]
    manifest = json.loads((target / "manifest.json").read_text())
    assert {r["unique_id"] for r in results} == set(manifest["unit_tests"])
    assert len(results) >= 25
    assert {r["status"] for r in results} == {"pass"}
