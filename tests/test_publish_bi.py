"""Files a BI tool can trust (issue 15): rounded figures, UTC times, a relative latest.json,
withheld flags, a data dictionary, and no new version when only floating-point noise changed."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from orchestration.publish import rounding
from orchestration.publish.dictionary import FIELDS, MARTS_YAML_DIR
from orchestration.publish.disclosure import WITHHELD, load_rules
from orchestration.publish.writer import publish, read_latest, versions
from orchestration.warehouse import connect, ensure_schema
from tests.conftest import PROJECT_ROOT
from tests.test_cli import fostering
from tests.test_publish import THRESHOLD, hand_made_marts, make_warehouse

NOON = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.timezone.utc)


def _bi_warehouse(path: Path, noise: float = 0.0) -> Path:
    """The small warehouse of test_publish, plus unrounded money and quantities, a genuine null, and times."""
    make_warehouse(path)
    with connect(path) as con:
        con.execute("INSERT INTO marts.mart_sufficiency VALUES ('E08000009', 'Trafford', DATE '2022-05-01', 42, 12, 10, 0, NULL, 4)")
        con.execute(
            "CREATE TABLE marts.mart_cost_per_placement (la_code VARCHAR, period DATE, category VARCHAR, children BIGINT, "
            "child_weeks DOUBLE, placement_spend DOUBLE, avg_weekly_cost DOUBLE)"
        )
        con.execute(
            "INSERT INTO marts.mart_cost_per_placement VALUES "
            f"('E08000009', DATE '2022-03-01', 'foster_ifa', 20, {85.71428571428571 + noise}, {43611.15 + noise}, "
            f"{508.81243081584523 + noise}), "
            f"('E08000009', DATE '2022-03-01', 'foster_inhouse', 3, 12.5, 1500.0, 120.0), "
            f"('E08000009', DATE '2022-04-01', 'foster_ifa', 20, 80.0, {-0.0000001 + noise}, 0.125)"
        )
        con.execute(
            "CREATE TABLE marts.mart_submission_status (la_code VARCHAR, period DATE, status VARCHAR, "
            "submitted_at TIMESTAMP, received_at TIMESTAMP)"
        )
        con.execute(
            "INSERT INTO marts.mart_submission_status VALUES "
            "('E08000009', DATE '2022-03-01', 'accepted', TIMESTAMP '2022-04-09 11:30:00.25', TIMESTAMP '2022-04-10 08:00:00.987654'), "
            "('E08000009', DATE '2022-04-01', 'missing', NULL, NULL)"
        )
    return path


@pytest.fixture
def bi(tmp_path: Path):
    return _bi_warehouse(tmp_path / "wh" / "warehouse.duckdb"), tmp_path / "published"


def _csv(version: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(version / f"{name}.csv", dtype=str, keep_default_na=False)


# --- rounding -----------------------------------------------------------------------------


def test_doubles_are_published_rounded_per_class(bi):
    warehouse, publish_dir = bi
    result = publish(warehouse, publish_dir, keep=5, threshold=THRESHOLD, now=NOON)
    cost = _csv(result.path, "mart_cost_per_placement").set_index("category")
    ifa = cost.loc["foster_ifa"].iloc[0]
    assert (ifa["avg_weekly_cost"], ifa["placement_spend"], ifa["child_weeks"]) == ("508.81", "43611.15", "85.71")
    april = cost.loc["foster_ifa"].iloc[1]
    assert april["placement_spend"] == "0.0"  # not -0.0: noise around zero is not a new figure
    assert april["avg_weekly_cost"] == "0.12"  # half to even: 0.125 is exactly halfway
    parquet = pd.read_parquet(result.path / "mart_cost_per_placement.parquet")
    assert parquet["avg_weekly_cost"].tolist()[0] == 508.81
    assert str(pq.read_schema(result.path / "mart_cost_per_placement.parquet").field("avg_weekly_cost").type) == "double"
    suff = pd.read_parquet(result.path / "mart_sufficiency.parquet")
    assert suff["inhouse_fostering_share"].tolist()[1] == 0.7097  # a ratio: 4 decimal places
    # the warehouse keeps full precision
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("SELECT max(avg_weekly_cost) FROM marts.mart_cost_per_placement").fetchone()[0] == 508.81243081584523


def test_benchmark_values_are_rounded_by_their_metric():
    marts = hand_made_marts()
    bench = marts["mart_benchmark"]
    bench["value"] = bench["value"] + 1 / 3
    rules = rounding.load_rules()
    schema = rounding.published_schema("mart_benchmark", pa.Schema.from_pandas(bench, preserve_index=False), rules)
    out = rounding.round_frame("mart_benchmark", bench, schema, rules)
    share = out[out["metric"] == "inhouse_fostering_share"]["value"]
    cost = out[out["metric"] == "r12_ifa_weekly_cost"]["value"]
    assert (share == np.round(bench.loc[share.index, "value"], 4)).all() and (share.round(4) == share).all()
    assert (cost == np.round(bench.loc[cost.index, "value"], 2)).all() and (cost != cost.round(1)).any()
    assert rules.metric_class == {m: rules.class_of(s.mart, s.column) for m, s in load_rules().benchmark.sources.items()}


def test_a_double_with_no_rounding_class_stops_the_publish(bi, tmp_path, monkeypatch):
    warehouse, publish_dir = bi
    rules = yaml.safe_load(rounding.ROUNDING_PATH.read_text(encoding="utf-8"))
    rules["marts"]["mart_cost_per_placement"]["money"].remove("avg_weekly_cost")
    edited = tmp_path / "rounding.yaml"
    edited.write_text(yaml.safe_dump(rules), encoding="utf-8")
    monkeypatch.setattr(rounding, "ROUNDING_PATH", edited)
    with pytest.raises(rounding.RoundingError, match=r"mart_cost_per_placement\.avg_weekly_cost \(a DOUBLE"):
        publish(warehouse, publish_dir, keep=5, threshold=THRESHOLD)
    assert versions(publish_dir) == [] and read_latest(publish_dir) is None


def test_every_double_and_timestamp_of_the_marts_has_a_rule():
    """Every DOUBLE and TIMESTAMP column the dbt marts declare is classified in rounding.yaml, and nothing stale is."""
    rules = rounding.load_rules()
    declared = {}
    for path in MARTS_YAML_DIR.glob("*.yml"):
        for model in yaml.safe_load(path.read_text(encoding="utf-8"))["models"]:
            declared[model["name"]] = {c["name"]: str(c.get("data_type", "")).lower() for c in model["columns"]}
    doubles = {(m, c) for m, cols in declared.items() for c, t in cols.items() if t in ("double", "float")}
    times = {(m, c) for m, cols in declared.items() for c, t in cols.items() if t.startswith("timestamp")}
    assert {(m, c) for m, c in doubles if rules.class_of(m, c) is None} == set()
    assert {(m, c) for m, c in times if c not in rules.times.get(m, {})} == set()
    classified = {(m, c) for m, cols in rules.columns.items() for c in cols}
    classified |= {(rules.by_metric_mart, c) for c in rules.by_metric_columns}
    assert classified == doubles
    assert {(m, c) for m, cols in rules.times.items() for c in cols} == times


# --- times and latest.json ----------------------------------------------------------------


def test_timestamps_are_iso_8601_to_the_second_and_utc_where_they_are(bi):
    warehouse, publish_dir = bi
    result = publish(warehouse, publish_dir, keep=5, threshold=THRESHOLD, now=NOON)
    status = _csv(result.path, "mart_submission_status")
    assert status["received_at"].tolist() == ["2022-04-10T08:00:00Z", ""]
    assert status["submitted_at"].tolist() == ["2022-04-09T11:30:00", ""]  # the LA's own clock: no Z
    schema = pq.read_schema(result.path / "mart_submission_status.parquet")
    assert str(schema.field("received_at").type) == "timestamp[ms, tz=UTC]"
    assert str(schema.field("submitted_at").type) == "timestamp[ms]"
    frame = pd.read_parquet(result.path / "mart_submission_status.parquet")
    assert frame["received_at"].iloc[0] == pd.Timestamp("2022-04-10 08:00:00", tz="UTC")
    manifest = json.loads(result.manifest_path.read_text(encoding="utf-8"))
    types = {c["name"]: c["type"] for m in manifest["marts"] if m["name"] == "mart_submission_status" for c in m["columns"]}
    assert types["received_at"] == "TIMESTAMP WITH TIME ZONE" and types["submitted_at"] == "TIMESTAMP"
    assert manifest["created_at"] == "2024-05-01T12:00:00Z"


def test_latest_json_holds_a_path_relative_to_the_publish_folder(bi, tmp_path):
    warehouse, publish_dir = bi
    result = publish(warehouse, publish_dir, keep=5, threshold=THRESHOLD, now=NOON)
    pointer = json.loads((publish_dir / "latest.json").read_text(encoding="utf-8"))
    assert pointer == {"version": result.version, "path": result.version, "created_at": "2024-05-01T12:00:00Z"}
    assert not Path(pointer["path"]).is_absolute() and (publish_dir / pointer["path"] / "manifest.json").is_file()
    # the folder moved elsewhere (no symlink followed): latest.json still finds the version
    moved = tmp_path / "moved"
    shutil.copytree(publish_dir, moved, symlinks=True)
    (moved / "latest").unlink()
    assert read_latest(moved) == (moved / result.version).resolve()
    # a latest.json written before (an absolute path) is still read
    (moved / "latest.json").write_text(json.dumps({"version": result.version, "path": str(publish_dir / result.version)}))
    assert read_latest(moved) == (moved / result.version).resolve()


# --- withheld flags -----------------------------------------------------------------------


@pytest.mark.parametrize("form", ["parquet", "csv"])
def test_a_withheld_cell_is_told_from_a_missing_one_by_its_flag(bi, form):
    warehouse, publish_dir = bi
    result = publish(warehouse, publish_dir, keep=5, threshold=THRESHOLD, now=NOON)
    if form == "parquet":
        suff = pd.read_parquet(result.path / "mart_sufficiency.parquet")
        flag = lambda c: suff[f"{c}_withheld"].astype(bool)  # noqa: E731
        empty = lambda c: suff[c].isna()  # noqa: E731
        assert str(pq.read_schema(result.path / "mart_sufficiency.parquet").field("foster_inhouse_withheld").type) == "bool"
    else:
        suff = _csv(result.path, "mart_sufficiency")
        assert set(suff["foster_inhouse_withheld"]) <= {"True", "False"}
        flag = lambda c: suff[f"{c}_withheld"] == "True"  # noqa: E731
        empty = lambda c: suff[c] == ""  # noqa: E731
    rules = load_rules().marts["mart_sufficiency"]
    columns = list(suff.columns)
    for column in (c for c in rules.withholdable if c in columns):
        assert columns[columns.index(column) + 1] == f"{column}_withheld"  # right beside its column
        # withheld: empty AND flagged; an empty cell without the flag is a missing value
        assert (flag(column) <= empty(column)).all(), column
        named = suff[WITHHELD].fillna("").str.split(",").apply(lambda names, c=column: c in names)
        assert (named == flag(column)).all(), column
    for column in rules.as_is:
        assert f"{column}_withheld" not in columns
    # row 1 (March) withholds 3 children in-house; row 3 (May) has a share that is simply missing
    assert flag("foster_inhouse").tolist() == [True, False, False] and empty("foster_inhouse").tolist() == [True, False, False]
    assert empty("inhouse_fostering_share").tolist() == [True, False, True]
    assert flag("inhouse_fostering_share").tolist() == [True, False, False]
    # no small count leaks in the file
    counts = pd.to_numeric(suff["foster_inhouse"].where(~empty("foster_inhouse")), errors="coerce")
    assert not counts.between(1, THRESHOLD).any()
    # marts with nothing to withhold get no flags
    finance = pd.read_parquet(result.path / "mart_finance.parquet")
    assert not [c for c in finance.columns if c.endswith("_withheld") or c == WITHHELD]


# --- the data dictionary -------------------------------------------------------------------


def _every_mart_warehouse(path: Path) -> Path:
    """Every mart of the dbt project, empty, with the columns and types its YAML declares."""
    with connect(path) as con:
        ensure_schema(con)
        con.execute("CREATE SCHEMA marts")
        for yml in sorted(MARTS_YAML_DIR.glob("*.yml")):
            for model in yaml.safe_load(yml.read_text(encoding="utf-8"))["models"]:
                columns = ", ".join(f'"{c["name"]}" {c["data_type"]}' for c in model["columns"])
                con.execute(f"CREATE TABLE marts.{model['name']} ({columns})")
    return path


def test_the_data_dictionary_describes_every_published_column(tmp_path):
    warehouse = _every_mart_warehouse(tmp_path / "wh" / "warehouse.duckdb")
    result = publish(warehouse, tmp_path / "published", keep=5, threshold=THRESHOLD, now=NOON)
    manifest = json.loads(result.manifest_path.read_text(encoding="utf-8"))
    table = pd.read_csv(result.path / "data_dictionary.csv", dtype=str, keep_default_na=False)
    assert tuple(table.columns) == FIELDS
    assert table.to_dict("records") == [{k: str(v) for k, v in row.items()} for row in manifest["dictionary"]]
    assert len(manifest["marts"]) == 8
    for mart in manifest["marts"]:
        published = pq.read_schema(result.path / f"{mart['name']}.parquet").names
        rows = table[table["mart"] == mart["name"]]
        assert rows["column"].tolist() == published, mart["name"]
        assert rows["position"].tolist() == [str(i) for i in range(1, len(published) + 1)]
        assert (rows["description"].str.len() > 20).all(), rows.loc[rows["description"].str.len() <= 20, "column"].tolist()
        assert (rows["type"] != "").all() and (rows["disclosure_class"] != "").all()
    kinds = dict(zip(table["mart"] + "." + table["column"], table["disclosure_class"]))
    rounded = dict(zip(table["mart"] + "." + table["column"], table["rounding"]))
    assert kinds["mart_sufficiency.foster_inhouse"] == "count" and kinds["mart_sufficiency.foster_inhouse_withheld"] == "withheld flag"
    assert kinds["mart_cost_comparison.ifa_weekly_cost"] == "derived" and rounded["mart_cost_comparison.ifa_weekly_cost"] == "money 2 dp"
    assert rounded["mart_recruitment.r12_conversion_rate"] == "ratio 4 dp" and kinds["mart_recruitment.la_code"] == "none"
    assert rounded["mart_benchmark.value"].startswith("by metric") and kinds["mart_benchmark.value"] == "benchmark value"
    assert rounded["mart_submission_status.received_at"] == "to the second, UTC"


# --- nothing new means no new version -------------------------------------------------------


def test_sub_penny_noise_makes_no_new_version(tmp_path):
    """A rebuild whose sums of doubles differ in their last bits publishes exactly the same bytes."""
    publish_dir = tmp_path / "published"
    first = publish(_bi_warehouse(tmp_path / "a" / "warehouse.duckdb"), publish_dir, keep=5, threshold=THRESHOLD, skip_unchanged=True, now=NOON)
    noisy = _bi_warehouse(tmp_path / "b" / "warehouse.duckdb", noise=1e-9)
    with duckdb.connect(str(noisy)) as con:  # and a ratio computed in another order
        con.execute("UPDATE marts.mart_sufficiency SET inhouse_fostering_share = (foster_connected + foster_inhouse) / fostering "
                    "WHERE inhouse_fostering_share IS NOT NULL")
    again = publish(noisy, publish_dir, keep=5, threshold=THRESHOLD, skip_unchanged=True, now=NOON + dt.timedelta(hours=1))
    assert again.unchanged and again.version == first.version and versions(publish_dir) == [first.version]
    # a change of a penny is news
    with duckdb.connect(str(noisy)) as con:
        con.execute("UPDATE marts.mart_cost_per_placement SET placement_spend = placement_spend + 0.01 WHERE children = 20")
    changed = publish(noisy, publish_dir, keep=5, threshold=THRESHOLD, skip_unchanged=True, now=NOON + dt.timedelta(hours=2))
    assert not changed.unchanged and changed.carried == ["mart_finance", "mart_submission_status", "mart_sufficiency"]


@pytest.mark.slow
def test_a_backfill_over_unchanged_months_makes_no_new_publish_version(tmp_path):
    """Done when (issue 15): `fostering backfill` over months already loaded and unchanged publishes nothing new.

    The whole bundled sample: on it a rebuild moves the last bits of the cost marts' and the
    benchmark's doubles (DuckDB adds in thread order), which before rounding made a new version.
    """
    landing = PROJECT_ROOT / "raw" / "sample"
    warehouse, publish_dir = tmp_path / "data" / "warehouse.duckdb", tmp_path / "data" / "published"
    run = fostering("run", "--landing", landing, "--warehouse", warehouse, "--publish-dir", publish_dir)
    assert run.returncode == 0, run.stdout + run.stderr
    first = versions(publish_dir)
    assert len(first) == 1, run.stdout
    files = {p.name: p.stat().st_ino for p in (publish_dir / first[0]).iterdir()}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        built = dict(con.execute("SELECT strftime(period, '%Y-%m'), built_at FROM ops.monthly_builds").fetchall())

    result = fostering("backfill", "--from", "2021-04", "--to", "2023-09", "--warehouse", warehouse, "--publish-dir", publish_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rebuilt = dict(con.execute("SELECT strftime(period, '%Y-%m'), built_at FROM ops.monthly_builds").fetchall())
    assert len([p for p in built if rebuilt[p] != built[p]]) == 30  # every month really was rebuilt
    assert versions(publish_dir) == first and os.readlink(publish_dir / "latest") == first[0]
    assert {p.name: p.stat().st_ino for p in (publish_dir / first[0]).iterdir()} == files
