"""The England-sized history (issue 6) on a few LAs and months, and the floor benchmark on it.

The generator's national path must give returns that validate against the
history's own LA reference list, placements that carry on from month to month,
the same files whatever the number of worker processes, and a history the
floor benchmark reads in full.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from orchestration.cli import main as cli
from orchestration.reference import local_authorities
from orchestration.returns.landing import discover
from orchestration.returns.validate import validate_path
from orchestration.sample import england_las, generate_national
from orchestration.sample.england import MEAN_POPULATION, SYNTHETIC_GSS_PREFIX

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LAS, MONTHS = 3, 5
MAX_BYTES = 200 * 2**20


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("national")
    paths = generate_national(root, las=LAS, months=MONTHS, start="2025-01", forms="folder", workers=1)
    assert len(paths) == LAS * MONTHS
    return root


def placements(history: Path) -> pd.DataFrame:
    frames = [
        pd.read_csv(path / "placements.csv", dtype=str, keep_default_na=False).assign(la=path.parent.name, period=path.name)
        for path in discover(history)[0]
    ]
    return pd.concat(frames, ignore_index=True)


def test_england_list_keeps_the_real_las_and_adds_synthetic_ones():
    las = england_las(150)
    assert len(las) == 150 and las["gss_code"].is_unique and las["dfe_code"].is_unique
    real = local_authorities()
    assert set(real["gss_code"]) <= set(las["gss_code"])
    synthetic = las[las["gss_code"].str.startswith(SYNTHETIC_GSS_PREFIX)]
    assert len(synthetic) == 150 - len(real)
    assert not set(synthetic["dfe_code"]) & set(real["dfe_code"])
    # The first 75 are the same whatever the length, and as large on average as all 150.
    assert england_las(75).equals(las.head(75))
    population = las["child_population_0_17"].astype(int)
    assert population.head(75).mean() == pytest.approx(MEAN_POPULATION, rel=0.01)
    assert population.mean() == pytest.approx(MEAN_POPULATION, rel=0.01)


def test_layout_and_reference_list(history):
    returns, ignored = discover(history)
    assert len(returns) == LAS * MONTHS and not ignored  # .reference is a dot-folder: not a return
    reference = pd.read_csv(history / ".reference" / "local_authorities.csv", dtype=str)
    assert list(reference["gss_code"]) == list(england_las(LAS)["gss_code"])
    assert (history / ".reference" / "placement_categories.csv").exists()


def test_returns_validate_against_the_history_reference_list(history):
    returns, _ = discover(history)
    for path in returns[:: MONTHS - 1]:  # the first and last month of each LA
        checked = validate_path(path, max_expanded_bytes=MAX_BYTES, reference_dir=history / ".reference")
        assert checked.errors == 0, checked.findings.to_string()
        assert checked.la_code in set(england_las(LAS)["gss_code"])


def test_placements_carry_on_from_month_to_month(history):
    data = placements(history)
    assert not data.duplicated(["la", "period", "child_id", "placement_start"]).any()
    periods = sorted(data["period"].unique())
    key = ["la", "child_id", "placement_start"]
    for before, after in zip(periods, periods[1:]):
        this, following = data[data["period"] == before], data[data["period"] == after]
        open_at_end = this[this["placement_end"] == ""]
        carried = open_at_end.merge(following, on=key, how="left", suffixes=("", "_next"), indicator=True)
        assert (carried["_merge"] == "both").all(), f"open placements of {before} missing from {after}"
        assert (carried["date_of_birth"] == carried["date_of_birth_next"]).all()
        ended = this[this["placement_end"] != ""].merge(following, on=key, how="inner")
        assert ended.empty, f"placements ended in {before} come back in {after}"
        # New placements in the following month start in it.
        new = following.merge(this[key], on=key, how="left", indicator=True)
        new = new[new["_merge"] == "left_only"]
        assert (new["placement_start"] >= f"{after}-01").all()


def test_returns_are_national_sized(history):
    data = placements(history)
    per_return = data.groupby(["la", "period"]).size()
    # Three LAs are a small sample of the 150 (about 550 on average): a wide band.
    assert 150 < per_return.mean() < 1500


def test_workers_give_the_same_files(tmp_path):
    one = generate_national(tmp_path / "one", las=8, months=1, start="2020-01", forms="zip", workers=1)
    two = generate_national(tmp_path / "two", las=8, months=1, start="2020-01", forms="zip", workers=2)
    assert [p.relative_to(tmp_path / "one") for p in one] == [p.relative_to(tmp_path / "two") for p in two]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(one, two))


def test_xlsx_history_validates(tmp_path):
    paths = generate_national(tmp_path, las=2, months=1, start="2024-06", forms="xlsx", workers=1)
    assert [p.suffix for p in paths] == [".xlsx", ".xlsx"]
    for path in paths:
        assert validate_path(path, max_expanded_bytes=MAX_BYTES, reference_dir=tmp_path / ".reference").errors == 0


def test_cli_national_options(tmp_path):
    result = CliRunner().invoke(cli, ["sample", "--national", "--out", str(tmp_path), "--las", "2", "--months", "2",
                                      "--start", "2024-01", "--forms", "csv"])
    assert result.exit_code == 0, result.output
    assert "4 returns written" in result.output and ".reference" in result.output
    assert sorted(p.name for p in (tmp_path / "synthetic-001").iterdir()) == ["2024-01", "2024-02"]
    refused = CliRunner().invoke(cli, ["sample", "--out", str(tmp_path / "x"), "--las", "30"])
    assert refused.exit_code == 2 and "--national" in refused.output


def test_bench_floor_reads_the_whole_history(history):
    result = subprocess.run(
        [sys.executable, "-m", "bench.run", "floor", str(history), "--format", "json"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=True,
    )
    shown = json.loads(result.stdout)["results"][0]["shown"]
    report = shown["report"]
    assert report["returns"] == LAS * MONTHS and report["files"] == LAS * MONTHS * 8
    expected_rows = sum(
        len(pd.read_csv(table, dtype=str)) for path in discover(history)[0] for table in path.glob("*.csv")
    )
    assert report["rows"] == expected_rows > 0
    assert shown["wall_s"] > 0 and shown["peak_rss_mb"] > 0 and shown["peak_tree_rss_mb"] > 0
    markdown = subprocess.run(
        [sys.executable, "-m", "bench.run", "floor", str(history), "--hold", "none"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=True,
    ).stdout
    assert markdown.startswith("Machine: ") and f"| {history.name} | pyarrow.csv | none | {LAS * MONTHS} |" in markdown


def _bench(*args: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "bench.run", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True,
    ).stdout


def test_backfill_then_an_incremental_month_through_the_pipeline(history, tmp_path):
    """The benchmark's pipeline stages on a small national history: the same code path as the full
    benchmark (`fostering run` on hard-linked landings, the history's own LA list), so a change that
    breaks the scale path fails here. Synthetic LAs must reach the marts and the publish, and the
    incremental month must ingest only its returns and rebuild only its month."""
    import duckdb

    work = tmp_path / "work"
    months = sorted(p.name for p in (history / "bolton").iterdir())
    backfill = json.loads(_bench("backfill", str(history), "--work", str(work), "--until", months[-2], "--with-floor", "--format", "json"))
    result = backfill["results"][0]
    report = result["shown"]["report"]
    assert report["exit_code"] == 0
    assert report["returns"] == report["accepted"] == LAS * (MONTHS - 1)
    assert report["months_built"] == MONTHS - 1 and report["rows"] > 0
    assert result["floor"]["report"]["returns"] == LAS * (MONTHS - 1)  # the floor of the same returns
    codes = set(england_las(LAS)["gss_code"])
    with duckdb.connect(str(work / "data" / "warehouse.duckdb"), read_only=True) as con:
        assert {c for (c,) in con.execute("SELECT DISTINCT la_code FROM marts.mart_sufficiency").fetchall()} == codes
        built_before = dict(con.execute("SELECT period, built_at FROM ops.monthly_builds").fetchall())

    table = _bench("incremental", str(history), "--work", str(work), "--with-floor")
    assert table.startswith("Machine: ")
    row = next(line for line in table.splitlines() if line.startswith(f"| {history.name} |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == str(LAS * MONTHS) and cells[3] == "1"  # every return now; one month built
    with duckdb.connect(str(work / "data" / "warehouse.duckdb"), read_only=True) as con:
        built_after = dict(con.execute("SELECT period, built_at FROM ops.monthly_builds").fetchall())
    assert {str(p)[:7] for p in built_after if built_after[p] != built_before.get(p)} == {months[-1]}
    published = pd.read_parquet(work / "data" / "published" / "latest" / "mart_sufficiency.parquet")
    assert set(published["la_code"]) == codes and published["period"].astype(str).str[:7].max() == months[-1]


def test_one_command_prints_the_backfill_and_incremental_table(history, tmp_path):
    months = sorted(p.name for p in (history / "bolton").iterdir())
    table = subprocess.run(
        [sys.executable, "-m", "bench.national", str(history), "--work", str(tmp_path / "work")],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=True,
    ).stdout
    assert table.startswith("Machine: ")
    rows = [line for line in table.splitlines() if line.startswith(f"| {history.name}, ")]
    assert [r.split("|")[1].strip() for r in rows] == [f"{history.name}, backfill to {months[-2]}", f"{history.name}, incremental {months[-1]}"]
    assert [r.split("|")[2].strip() for r in rows] == [str(LAS * (MONTHS - 1)), str(LAS * MONTHS)]
    assert [r.split("|")[4].strip() for r in rows] == [str(MONTHS - 1), "1"]  # months built
