"""Every kind of bad input in one landing folder, through one `fostering run` (issue 12).

The landing folder holds every broken-return case of the suite in each of its
forms (tests/fixtures/broken.py: structure, cells, values no warehouse type
holds, encodings, archives, rule violations), garbage, symbolic links to
returns outside the folder, and good returns from three LAs. One run must exit
0, accept every good return, reject every bad one with its own findings, read
nothing outside the landing folder and print no traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from orchestration.returns.writers import write_return
from tests.conftest import PROJECT_ROOT
from tests.fixtures.broken import CASES, case_forms, write_case
from tests.fixtures.garbage import garbage_return, garbage_table_return
from tests.fixtures.returns import good_tables

FOSTERING = str(Path(sys.executable).parent / "fostering")
GOOD = {"good-a.xlsx": "E08000001", "good-b.zip": "E08000002", "good-c": "E08000003"}


def _landing(tmp_path: Path) -> tuple[Path, dict[str, set[str]]]:
    """The landing folder, and for each bad return's source path the codes it must be rejected with."""
    landing = tmp_path / "landing"
    wanted: dict[str, set[str]] = {}
    for name, form in case_forms():
        path = write_case(name, landing / form, form)
        wanted[str(path.relative_to(landing))] = {e.code for e in CASES[name].expect(form) if e.severity == "error"}
    garbage_return(landing / "garbage" / "all-tables", 900_000, seed=1)  # under the 1 MB limit the run is given
    wanted["garbage/all-tables"] = {"TABLE-NO-HEADER", "ROW-WRONG-FIELD-COUNT"}
    garbage_table_return(landing / "garbage" / "placements-rows", 800_000, seed=2, keep_header=True)
    wanted["garbage/placements-rows"] = {"CELL-WRONG-TYPE"}
    for source, la in GOOD.items():
        write_return(good_tables(la_code=la), landing / source, "folder" if "." not in source else source.rsplit(".", 1)[1])
    outside = tmp_path / "outside"
    secret = write_return(good_tables(la_code="E08000004"), outside / "elsewhere.xlsx", "xlsx")
    (landing / "linked.xlsx").symlink_to(secret)
    (landing / "linked-folder").symlink_to(outside, target_is_directory=True)
    return landing, _first_of_each_content(landing, wanted)


def _first_of_each_content(landing: Path, wanted: dict[str, set[str]]) -> dict[str, set[str]]:
    """Two files with the same bytes (the empty XLSX and the empty ZIP) are one return, received once."""
    from orchestration.returns.landing import checksum

    seen, kept = set(), {}
    for source in sorted(wanted):
        digest = checksum(landing / source)
        if digest not in seen:
            seen.add(digest)
            kept[source] = wanted[source]
    return kept


@pytest.mark.slow
def test_one_run_over_every_kind_of_bad_input_accepts_the_good_and_rejects_the_bad(tmp_path):
    landing, wanted = _landing(tmp_path)
    warehouse = tmp_path / "data" / "warehouse.duckdb"
    # the size limit the `too_large` cases are built to break (every other return is far smaller)
    env = {**os.environ, "FOSTERING_REFERENCE_DIR": str(PROJECT_ROOT / "dbt_project" / "seeds"), "FOSTERING_MAX_EXPANDED_MB": "1"}
    done = subprocess.run(
        [FOSTERING, "run", "--landing", str(landing), "--warehouse", str(warehouse), "--publish-dir", str(tmp_path / "published")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=1800,
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stdout + done.stderr
    with duckdb.connect(str(warehouse), read_only=True) as con:
        ledger = dict(con.execute("SELECT source_path, status FROM ops.submissions").fetchall())
        codes: dict[str, set[str]] = {}
        for source, code in con.execute(
            "SELECT s.source_path, f.code FROM ops.findings f JOIN ops.submissions s USING (submission_id) WHERE f.severity = 'error'"
        ).fetchall():
            codes.setdefault(source, set()).add(code)
        stored = {la for (la,) in con.execute("SELECT DISTINCT s.la_code FROM raw.placements p JOIN ops.submissions s USING (submission_id)").fetchall()}
    assert len(wanted) >= 40, f"only {len(wanted)} kinds of bad input"
    assert {source: ledger.get(source) for source in GOOD} == {source: "accepted" for source in GOOD}
    assert {source: ledger.get(source) for source in wanted} == {source: "rejected" for source in wanted}
    missing = {source: want - codes.get(source, set()) for source, want in wanted.items() if not want <= codes.get(source, set())}
    assert not missing, missing
    assert set(ledger) == set(GOOD) | set(wanted)  # the links were never taken (nor a second copy of the same bytes)
    assert stored == set(GOOD.values())  # nothing from outside the landing folder, nothing of a rejected return
    archived = {p.name for p in (warehouse.parent / "archive").rglob("*") if p.is_file()}
    assert "elsewhere.xlsx" not in archived
    assert "linked.xlsx" in done.stdout or "2 file(s) ignored" in done.stdout or "ignored" in done.stdout


def _raw_tables(warehouse: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        names = [n for (n,) in con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw'").fetchall()]
        return {n: sorted(con.execute(f"SELECT * FROM raw.{n}").fetchall(), key=repr) for n in names}


def test_bad_returns_leave_the_good_returns_of_their_batches_exactly_as_alone(tmp_path):
    """The good returns' stored rows are the same whether every kind of bad input shares their batches or not."""
    from orchestration.ingest import ingest_landing
    from orchestration.settings import load_settings

    mixed, wanted = _landing(tmp_path / "mixed")
    alone = tmp_path / "alone" / "landing"
    for source, la in GOOD.items():
        write_return(good_tables(la_code=la), alone / source, "folder" if "." not in source else source.rsplit(".", 1)[1])

    results = {}
    for name, landing in (("mixed", mixed), ("alone", alone)):
        settings = load_settings(
            {"FOSTERING_LANDING": str(landing), "FOSTERING_WAREHOUSE": str(tmp_path / name / "wh.duckdb"), "FOSTERING_MAX_EXPANDED_MB": "1"}
        )
        summary = ingest_landing(settings)
        results[name] = (summary, _raw_tables(settings.warehouse))

    summary, tables = results["mixed"]
    assert sorted(o.source for o in summary.outcomes if o.status == "rejected") == sorted(wanted)
    assert {i.path.name for i in summary.ignored} >= {"linked.xlsx", "linked-folder"}
    assert tables == results["alone"][1]  # the bad returns stored nothing, and changed nothing of the good


def test_validate_prints_every_bad_return_as_findings_never_a_traceback(tmp_path):
    import json

    landing, wanted = _landing(tmp_path)
    env = {**os.environ, "FOSTERING_MAX_EXPANDED_MB": "1"}
    done = subprocess.run(
        [FOSTERING, "validate", str(landing), "--format", "json"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900
    )

    assert done.returncode == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stdout + done.stderr
    records = {str(Path(r["path"]).relative_to(landing)): r for r in json.loads(done.stdout)}
    assert {s: r["status"] for s, r in records.items() if s in GOOD} == {s: "accepted" for s in GOOD}
    for source, codes in wanted.items():
        found = {f["code"] for f in records[source]["findings"] if f["severity"] == "error"}
        assert records[source]["status"] == "rejected" and codes <= found, (source, codes, found)
    assert not any("elsewhere" in s or s.startswith("linked") for s in records)  # links are not followed
