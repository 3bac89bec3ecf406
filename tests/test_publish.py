"""Publishing: disclosure control, the files and manifest, the atomic switch of `latest`, kill safety."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest

from orchestration import __version__
from orchestration.publish import writer
from orchestration.publish.disclosure import (
    WITHHELD,
    DisclosureError,
    apply_disclosure,
    count_withheld,
    load_rules,
    unclassified,
)
from orchestration.publish.writer import publish, read_latest, versions
from orchestration.returns.schema import known_versions
from orchestration.warehouse import connect, ensure_schema
from tests.conftest import PROJECT_ROOT
from tests.test_cli import fostering

THRESHOLD = 5
D = dt.date(2022, 3, 1)
GRAIN = {
    "mart_recruitment": ["la_code", "period", "carer_type"],
    "mart_sufficiency": ["la_code", "period"],
    "mart_sufficiency_by_need": ["la_code", "period", "need_category"],
    "mart_cost_per_placement": ["la_code", "period", "category"],
    "mart_cost_comparison": ["la_code", "period"],
    "mart_finance": ["la_code", "period", "cost_line"],
    "mart_benchmark": ["group_type", "group_name", "la_code", "period", "metric"],
    "mart_submission_status": ["la_code", "period"],
}


# --- disclosure on hand-made marts ---------------------------------------------------


def hand_made_marts() -> dict[str, pd.DataFrame]:
    """Three LAs in March 2022: A has 3 children with in-house carers (withheld), B 6, C 0."""
    las = ["E0000000A", "E0000000B", "E0000000C"]
    sufficiency = pd.DataFrame({
        "la_code": las, "period": [D] * 3,
        "children_looked_after": [50, 60, 40],
        "foster_inhouse": [3, 6, 0], "foster_connected": [0, 10, 8], "foster_ifa": [20, 20, 20], "foster_other_la": [7, 7, 7],
        "fostering": [30, 43, 35],
        "inhouse_fostering_share": [0.1, 16 / 43, 8 / 35],
        "children_in_area": [40, 50, 30], "in_area_share": [0.8, 50 / 60, 0.75],
        "cla_rate_per_10k": [10.0, 12.0, 8.0],
        "approved_households": [3, 4, 12], "places_filled": [3, 5, 9], "place_utilisation": [0.5, 5 / 6, 0.9],
    })
    by_need = pd.DataFrame({
        "la_code": ["E0000000A", "E0000000B"], "period": [D, D], "need_category": ["teenager", "teenager"],
        "requests": [3, 10], "placed_in_house": [2, 6], "placed_external": [1, 4], "not_placed": [0, 0],
        "inhouse_fill_rate": [2 / 3, 0.6],
    })
    cost_per_placement = pd.DataFrame({
        "la_code": ["E0000000A", "E0000000B"], "period": [D, D], "category": ["foster_inhouse", "foster_inhouse"],
        "children": [3, 6], "child_weeks": [12.0, 25.0], "placement_spend": [1500.0, 3000.0],
        "avg_weekly_cost": [125.0, 120.0], "overhead_spend": [300.0, 500.0], "fully_loaded_weekly_cost": [150.0, 140.0],
        "r12_months": [12, 12], "r12_child_weeks": [100.0, 300.0], "r12_placement_spend": [12000.0, 36000.0],
        "r12_avg_weekly_cost": [120.0, 120.0], "r12_fully_loaded_weekly_cost": [140.0, 135.0],
    })
    cost_comparison = pd.DataFrame({
        "la_code": las, "period": [D] * 3,
        "inhouse_children": [3, 6, 9], "ifa_children": [20, 20, 20],
        "inhouse_weekly_cost": [150.0, 140.0, 130.0], "ifa_weekly_cost": [900.0, 950.0, 1000.0],
        "ifa_premium_weekly": [750.0, 810.0, 870.0], "annual_saving_per_child": [39000.0, 42120.0, 45240.0],
        "r12_months": [12, 12, 12],
        "r12_inhouse_weekly_cost": [140.0, 135.0, 130.0], "r12_ifa_weekly_cost": [880.0, 940.0, 990.0],
        "r12_ifa_premium_weekly": [740.0, 805.0, 860.0], "r12_annual_saving_per_child": [38480.0, 41860.0, 44720.0],
    })
    recruitment = pd.DataFrame({
        "la_code": ["E0000000A"], "period": [D], "carer_type": ["mainstream"],
        "enquiries": [2], "approvals": [3], "approved_households": [4], "r12_conversion_rate": [0.25],
    })
    finance = pd.DataFrame({
        "la_code": ["E0000000A"], "period": [D], "cost_line": ["fostering_staff"],
        "actual": [Decimal("-1500.00")], "budget": [Decimal("3.00")], "variance": [Decimal("-1503.00")],
    })
    # Hub H1 = A and B, hub H2 = C, all = A, B and C; two metrics.
    members = [("hub", "H1", "E0000000A"), ("hub", "H1", "E0000000B"), ("hub", "H2", "E0000000C"),
               ("all", "all", "E0000000A"), ("all", "all", "E0000000B"), ("all", "all", "E0000000C")]
    share = dict(zip(las, sufficiency["inhouse_fostering_share"]))
    ifa = dict(zip(las, cost_comparison["r12_ifa_weekly_cost"]))
    rows = []
    for metric, values in (("inhouse_fostering_share", share), ("r12_ifa_weekly_cost", ifa)):
        for group_type, group_name, la in members:
            group = [values[m] for t, g, m in members if (t, g) == (group_type, group_name)]
            rows.append({
                "group_type": group_type, "group_name": group_name, "la_code": la, "period": D, "metric": metric,
                "value": values[la], "group_n": len(group), "group_min": min(group), "group_q1": min(group),
                "group_median": sorted(group)[len(group) // 2], "group_q3": max(group), "group_max": max(group),
                "rank": 1, "better": "higher" if metric == "inhouse_fostering_share" else "lower",
            })
    benchmark = pd.DataFrame(rows)
    return {
        "mart_sufficiency": sufficiency, "mart_sufficiency_by_need": by_need, "mart_cost_per_placement": cost_per_placement,
        "mart_cost_comparison": cost_comparison, "mart_recruitment": recruitment, "mart_finance": finance,
        "mart_benchmark": benchmark,
    }


def _row(frame: pd.DataFrame, **where) -> pd.Series:
    chosen = frame
    for column, value in where.items():
        chosen = chosen[chosen[column] == value]
    assert len(chosen) == 1, where
    return chosen.iloc[0]


def test_small_counts_and_everything_derived_from_them_are_withheld():
    marts = hand_made_marts()
    before = copy.deepcopy(marts)
    out = apply_disclosure(marts, THRESHOLD)

    suff = out["mart_sufficiency"]
    a, b, c = (_row(suff, la_code=la) for la in ("E0000000A", "E0000000B", "E0000000C"))
    assert pd.isna(a["foster_inhouse"]) and pd.isna(a["inhouse_fostering_share"])
    # foster_other_la is withheld too (secondary suppression): with `fostering` and the other
    # foster categories published, it would otherwise give foster_inhouse back by subtraction
    assert pd.isna(a["foster_other_la"])
    assert a[WITHHELD] == "foster_inhouse,foster_other_la,inhouse_fostering_share"
    assert (b["foster_inhouse"], c["foster_inhouse"]) == (6, 0)  # 0 and 6 are published
    assert b["inhouse_fostering_share"] == pytest.approx(16 / 43) and c["inhouse_fostering_share"] == pytest.approx(8 / 35)
    assert b[WITHHELD] == "" and c[WITHHELD] == ""
    assert a["foster_connected"] == 0 and a["in_area_share"] == 0.8 and a["cla_rate_per_10k"] == 10.0
    # households and places are not children: published as they are, even when small
    assert (a["approved_households"], a["places_filled"], a["place_utilisation"]) == (3, 3, 0.5)
    assert str(suff["foster_inhouse"].dtype) == "Int64"  # a withheld count stays an integer column

    need = _row(out["mart_sufficiency_by_need"], la_code="E0000000A")
    assert need[["requests", "placed_in_house", "placed_external", "inhouse_fill_rate"]].isna().all()
    assert need["not_placed"] == 0
    assert need[WITHHELD] == "requests,placed_in_house,placed_external,inhouse_fill_rate"
    need_b = _row(out["mart_sufficiency_by_need"], la_code="E0000000B")
    assert pd.isna(need_b["placed_external"])
    # requests 10 = 6 in-house + 4 external + 0 not placed: with only the 4 withheld it would be
    # 10 - 6 - 0, so the smallest non-zero published part (6) is withheld too, and with it the rate
    assert pd.isna(need_b["placed_in_house"]) and pd.isna(need_b["inhouse_fill_rate"])
    assert need_b["requests"] == 10 and need_b["not_placed"] == 0

    cost = _row(out["mart_cost_per_placement"], la_code="E0000000A")
    hidden = ["children", "child_weeks", "avg_weekly_cost", "fully_loaded_weekly_cost", "r12_child_weeks",
              "r12_avg_weekly_cost", "r12_fully_loaded_weekly_cost"]
    assert cost[hidden].isna().all() and cost[WITHHELD] == ",".join(hidden)
    assert (cost["placement_spend"], cost["overhead_spend"], cost["r12_placement_spend"]) == (1500.0, 300.0, 12000.0)
    assert _row(out["mart_cost_per_placement"], la_code="E0000000B")[WITHHELD] == ""

    comparison = _row(out["mart_cost_comparison"], la_code="E0000000A")
    assert comparison[WITHHELD] == (
        "inhouse_children,inhouse_weekly_cost,ifa_premium_weekly,annual_saving_per_child,"
        "r12_inhouse_weekly_cost,r12_ifa_premium_weekly,r12_annual_saving_per_child"
    )
    assert (comparison["ifa_children"], comparison["ifa_weekly_cost"], comparison["r12_ifa_weekly_cost"]) == (20, 900.0, 880.0)

    # money totals, enquiries, approvals and households: untouched, and no `withheld` column
    pd.testing.assert_frame_equal(out["mart_finance"], before["mart_finance"])
    pd.testing.assert_frame_equal(out["mart_recruitment"], before["mart_recruitment"])

    bench = out["mart_benchmark"]
    stats = ["group_min", "group_q1", "group_median", "group_q3", "group_max", "rank"]
    share = bench[bench["metric"] == "inhouse_fostering_share"]
    a_rows = share[share["la_code"] == "E0000000A"]
    assert a_rows["value"].isna().all()
    assert set(a_rows[WITHHELD]) == {"value," + ",".join(stats)}
    # every group A belongs to (hub H1, all) loses its spread and ranks; B keeps its own value
    for _, row in share[(share["group_name"].isin(["H1", "all"])) & (share["la_code"] != "E0000000A")].iterrows():
        assert row[stats].isna().all() and pd.notna(row["value"]) and row[WITHHELD] == ",".join(stats)
    c_hub = _row(share, group_name="H2", la_code="E0000000C")
    assert c_hub[WITHHELD] == "" and c_hub[stats].notna().all()
    ifa = bench[bench["metric"] == "r12_ifa_weekly_cost"]
    assert (ifa[WITHHELD] == "").all() and ifa[["value", *stats]].notna().all().all()
    assert count_withheld(bench) == 2 * 7 + 3 * 6  # A's value+stats in 2 groups, stats of B (2 groups) and C (all)

    # the warehouse's exact numbers (the frames passed in) are unchanged
    for name in marts:
        pd.testing.assert_frame_equal(marts[name], before[name])
        assert WITHHELD not in marts[name].columns


def test_the_threshold_is_a_setting():
    out = apply_disclosure(hand_made_marts(), threshold=2)
    assert _row(out["mart_sufficiency"], la_code="E0000000A")["foster_inhouse"] == 3
    assert (out["mart_sufficiency"][WITHHELD] == "").all()
    by_need = _row(out["mart_sufficiency_by_need"], la_code="E0000000A")
    assert by_need[WITHHELD] == "placed_in_house,placed_external,inhouse_fill_rate"  # 2 and 1


def test_an_unclassified_column_or_metric_stops_the_publish():
    marts = hand_made_marts()
    marts["mart_sufficiency"] = marts["mart_sufficiency"].assign(children_new_measure=[1, 2, 3])
    with pytest.raises(DisclosureError, match="mart_sufficiency.children_new_measure"):
        apply_disclosure(marts, THRESHOLD)
    marts = hand_made_marts()
    marts["mart_benchmark"].loc[0, "metric"] = "a_new_metric"
    with pytest.raises(DisclosureError, match="a_new_metric"):
        apply_disclosure(marts, THRESHOLD)
    with pytest.raises(DisclosureError, match="mart_unknown"):
        apply_disclosure({"mart_unknown": pd.DataFrame({"x": [1]})}, THRESHOLD)


# --- the proof on real data ----------------------------------------------------------


@pytest.fixture(scope="module")
def sample_build(tmp_path_factory):
    """Two LAs' bundled returns (Trafford and Reading, 30 months each) through `fostering run`."""
    root = tmp_path_factory.mktemp("publish_sample")
    landing = root / "landing"
    for la in ("trafford", "reading"):
        shutil.copytree(PROJECT_ROOT / "raw" / "sample" / la, landing / la)
    warehouse = root / "warehouse.duckdb"
    # `fostering run` may publish on its own (to its own folder); this test publishes directly.
    result = fostering("run", "--landing", landing, "--warehouse", warehouse, "--publish-dir", root / "run_published")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        marts = {n for (n,) in con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts'").fetchall()}
    assert marts == set(GRAIN), result.stdout + result.stderr
    publish_dir = root / "published"
    started = time.perf_counter()
    published = publish(warehouse, publish_dir, keep=5, threshold=THRESHOLD, checks=[{"suite": "example", "errors": 0}])
    return warehouse, publish_dir, published, time.perf_counter() - started


def _warehouse_marts(warehouse: Path) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        names = [n for (n,) in con.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'marts'").fetchall()]
        return {n: con.sql(f"SELECT * FROM marts.{n}").df() for n in names}


def _published(version: Path, name: str, form: str) -> pd.DataFrame:
    """A published mart with nulls as NA; CSV read as text (an empty field is a null)."""
    if form == "parquet":
        return pd.read_parquet(version / f"{name}.parquet")
    frame = pd.read_csv(version / f"{name}.csv", dtype=str, keep_default_na=False)
    return frame.mask(frame == "")


def _small(series: pd.Series) -> pd.Series:
    values = pd.to_numeric(series, errors="coerce")
    return ((values >= 1) & (values <= THRESHOLD)).fillna(False).astype(bool)


def _keys(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame[keys].astype(str)


@pytest.mark.slow
def test_every_mart_column_is_classified(sample_build):
    """A new mart column (read from the warehouse's information_schema) must be classified before it is published."""
    warehouse, *_ = sample_build
    rules = load_rules()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        columns: dict[str, list[str]] = {}
        for table, column in con.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'marts' ORDER BY table_name, ordinal_position"
        ).fetchall():
            columns.setdefault(table, []).append(column)
        metrics = {m for (m,) in con.execute("SELECT metric FROM reference.benchmark_metrics").fetchall()}
    assert unclassified(columns, rules) == []
    stale = [f"{m}.{c}" for m, rule in rules.marts.items() for c in rule.kind_of if c not in columns.get(m, [])]
    assert stale == [], "classified in disclosure.yaml but not in the warehouse"
    assert set(rules.marts) == set(columns)
    assert metrics <= set(rules.benchmark.sources), "a benchmark metric without a disclosure source"


@pytest.mark.slow
@pytest.mark.parametrize("form", ["parquet", "csv"])
def test_no_small_count_of_children_is_published(sample_build, form):
    warehouse, publish_dir, result, _ = sample_build
    rules = load_rules()
    exact = _warehouse_marts(warehouse)
    version = read_latest(publish_dir)
    assert version == result.path

    small_in_warehouse = 0
    published: dict[str, pd.DataFrame] = {}
    for name, rule in rules.marts.items():
        wh, pub = exact[name], _published(version, name, form)
        published[name] = pub
        assert len(pub) == len(wh), name
        keys = GRAIN[name]
        joined = _keys(wh, keys).join(wh.add_prefix("wh_")).merge(
            _keys(pub, keys).join(pub.drop(columns=keys)), on=keys, how="inner", validate="one_to_one"
        )
        assert len(joined) == len(wh), name
        for column in rule.counts:
            small_in_warehouse += int(_small(wh[column]).sum())
            assert not _small(pub[column]).any(), f"{name}.{column} publishes a count of 1-{THRESHOLD} children"
        for column, sources in rule.derived.items():
            from_small = pd.concat([_small(joined[f"wh_{s}"]) for s in sources], axis=1).any(axis=1)
            assert joined.loc[from_small, column].isna().all(), f"{name}.{column} published from a withheld count"
        for column in rule.as_is:
            same = joined[column].isna() == joined[f"wh_{column}"].isna()
            assert same.all(), f"{name}.{column}: as_is values lost"
        if form == "parquet":  # what is published is the warehouse's figure (doubles rounded to their class)
            for column in rule.kind_of:
                if pd.api.types.is_numeric_dtype(wh[column]) and not pd.api.types.is_bool_dtype(wh[column]):
                    kept = joined[column].notna()
                    published_values = joined.loc[kept, column].astype(float).to_numpy()
                    exact_values = joined.loc[kept, f"wh_{column}"].astype(float).to_numpy()
                    if pd.api.types.is_float_dtype(wh[column]):  # rounded: within half a unit of the last place
                        assert (abs(published_values - exact_values) <= 0.5 * 10 ** -2 + 1e-9).all(), f"{name}.{column} changed"
                    else:
                        assert (published_values == exact_values).all(), f"{name}.{column} changed"
        if rule.has_rules:
            # `withheld` and each `<column>_withheld` flag name exactly the cells the warehouse has and the file does not
            named = joined[WITHHELD].fillna("").str.split(",")
            for column in [*rule.counts, *rule.derived, *rule.benchmark_value, *rule.benchmark_group]:
                emptied = joined[f"wh_{column}"].notna() & joined[column].isna()
                assert (named.apply(lambda names, c=column: c in names) == emptied).all(), f"{name}.{column}"
                flag = joined[f"{column}_withheld"].astype(str).str.lower() == "true"
                assert (flag == emptied).all(), f"{name}.{column}_withheld"
        else:
            assert WITHHELD not in pub.columns

    # the proof is not vacuous: the warehouse keeps small counts, and the files withheld them
    assert small_in_warehouse > 0
    assert result.withheld["mart_sufficiency"] > 0 and result.withheld["mart_cost_per_placement"] > 0

    # mart_benchmark: a value whose source figure is withheld is withheld, and so is its group's spread
    bench, wh_bench = published["mart_benchmark"], exact["mart_benchmark"]
    stats = list(rules.benchmark.group_statistics)
    for metric, source in rules.benchmark.sources.items():
        keys = GRAIN[source.mart]
        wh_src, pub_src = exact[source.mart], published[source.mart]
        both = _keys(wh_src, keys).assign(wh=wh_src[source.column].to_numpy()).merge(
            _keys(pub_src, keys).assign(pub=pub_src[source.column].to_numpy()), on=keys, validate="one_to_one"
        )
        for column, wanted in source.where.items():
            both = both[both[column] == wanted]
        gone = both.loc[both["wh"].notna() & both["pub"].isna(), ["la_code", "period"]]
        rows = bench[bench["metric"] == metric]
        hit = _keys(rows, ["la_code", "period"]).merge(gone, how="left", indicator=True)["_merge"].eq("both").to_numpy()
        assert rows.loc[hit, "value"].isna().all(), metric
        groups = _keys(rows[hit], ["group_type", "group_name", "period"]).drop_duplicates()
        in_group = _keys(rows, ["group_type", "group_name", "period"]).merge(groups, how="left", indicator=True)["_merge"].eq("both").to_numpy()
        assert rows.loc[in_group, stats].isna().all().all(), metric
    assert len(bench) == len(wh_bench)


@pytest.mark.slow
def test_parquet_keeps_the_warehouse_types(sample_build):
    warehouse, _, result, seconds = sample_build
    schema = pq.read_schema(result.path / "mart_sufficiency.parquet")
    assert str(schema.field("foster_inhouse").type) == "int64" and str(schema.field("period").type) == "date32[day]"
    assert str(pq.read_schema(result.path / "mart_finance.parquet").field("actual").type) == "decimal128(14, 2)"
    assert str(schema.field(WITHHELD).type) == "string" and str(schema.field("foster_inhouse_withheld").type) == "bool"
    status = pq.read_schema(result.path / "mart_submission_status.parquet")
    assert str(status.field("received_at").type) == "timestamp[ms, tz=UTC]" and str(status.field("submitted_at").type) == "timestamp[ms]"
    manifest = json.loads(result.manifest_path.read_text())
    assert manifest["disclosure"]["withheld_cells"] == result.withheld
    assert seconds < 60


# --- the files, the manifest and the pointers, on a small hand-made warehouse ---------


FORMULAS = ['=HYPERLINK("http://example.org/x","click")', "@SUM(A1:A9)", "+44 161", "-1+2", "\tleading tab"]


def make_warehouse(path: Path, small_count: int = 3) -> Path:
    """A warehouse with two marts and a ledger of one current and one superseded return."""
    with connect(path) as con:
        ensure_schema(con)
        for sid, current, submitted in (("old", False, "2022-04-05 10:00:00"), ("new", True, "2022-04-09 11:30:00")):
            con.execute(
                "INSERT INTO ops.submissions (submission_id, source_path, la_code, period, contract_version, submitted_at, "
                "received_at, status, errors, warnings, is_current) VALUES (?, ?, 'E08000009', DATE '2022-03-01', '1.0', ?, "
                "TIMESTAMP '2022-04-10 08:00:00', 'accepted', 0, 0, ?)",
                [sid, f"trafford/{sid}.zip", submitted, current],
            )
        con.execute("CREATE SCHEMA marts")
        con.execute(
            "CREATE TABLE marts.mart_finance (la_code VARCHAR, la_name VARCHAR, region VARCHAR, hub VARCHAR, period DATE, "
            "cost_line VARCHAR, actual DECIMAL(14,2), budget DECIMAL(14,2), variance DECIMAL(14,2))"
        )
        for i, text in enumerate(FORMULAS):
            con.execute(
                "INSERT INTO marts.mart_finance VALUES ('E08000009', ?, 'North West', 'Greater Manchester', DATE '2022-03-01', ?, -1500.00, 25.50, -1525.50)",
                [text, f"line_{i}"],
            )
        con.execute(
            "CREATE TABLE marts.mart_sufficiency (la_code VARCHAR, la_name VARCHAR, period DATE, children_looked_after BIGINT, "
            "foster_inhouse BIGINT, foster_connected BIGINT, fostering BIGINT, inhouse_fostering_share DOUBLE, approved_households BIGINT)"
        )
        con.execute(
            "INSERT INTO marts.mart_sufficiency VALUES "
            f"('E08000009', 'Trafford', DATE '2022-03-01', 40, {small_count}, 10, 30, {(small_count + 10) / 30}, 2), "
            "('E08000009', 'Trafford', DATE '2022-04-01', 41, 12, 10, 31, 0.7096774193548387, 4)"
        )
    return path


@pytest.fixture
def tiny(tmp_path: Path):
    return make_warehouse(tmp_path / "wh" / "warehouse.duckdb"), tmp_path / "published"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_csv_neutralises_formulas_but_not_numbers(tiny):
    warehouse, publish_dir = tiny
    result = publish(warehouse, publish_dir, keep=5, threshold=THRESHOLD)
    text = (result.path / "mart_finance.csv").read_text(encoding="utf-8")
    rows = pd.read_csv(result.path / "mart_finance.csv", dtype=str, keep_default_na=False)
    assert dict(zip(rows["cost_line"], rows["la_name"])) == {f"line_{i}": "'" + f for i, f in enumerate(FORMULAS)}
    assert "'=HYPERLINK(" in text and "'@SUM(A1:A9)" in text
    assert set(rows["actual"]) == {"-1500.00"} and set(rows["variance"]) == {"-1525.50"}  # numbers untouched
    assert ",-1500.00," in text and "'-1500" not in text
    # Parquet keeps the exact text: it is not read by a spreadsheet as formulas
    exact = pd.read_parquet(result.path / "mart_finance.parquet")
    assert dict(zip(exact["cost_line"], exact["la_name"])) == {f"line_{i}": f for i, f in enumerate(FORMULAS)}
    assert writer.neutralise_formulas(pd.Series(["ok", None, "=1", "\rx"])).tolist()[::2] == ["ok", "'=1"]


def test_manifest_and_checksums_match_the_files(tiny):
    warehouse, publish_dir = tiny
    before = _sha256(warehouse)
    checks = [{"suite": "mart_sufficiency", "errors": 0, "warnings": 1, "passed": False}]
    result = publish(warehouse, publish_dir, keep=5, threshold=THRESHOLD, checks=checks, now=dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.timezone.utc))
    assert _sha256(warehouse) == before  # read-only: the warehouse is untouched
    assert result.version == "20240501T120000Z" and result.path == (publish_dir / result.version).resolve()
    manifest = json.loads(result.manifest_path.read_text(encoding="utf-8"))
    assert manifest["version"] == result.version and manifest["created_at"] == "2024-05-01T12:00:00Z"
    assert manifest["pipeline_version"] == __version__ and manifest["marts_spec_version"] == "v1"
    assert manifest["return_contract_versions"] == known_versions()
    assert manifest["checks"] == checks
    assert manifest["returns"] == [{
        "submission_id": "new", "la_code": "E08000009", "period": "2022-03", "submitted_at": "2022-04-09T11:30:00",
        "status": "accepted", "contract_version": "1.0",
    }]
    assert manifest["disclosure"]["threshold"] == THRESHOLD
    assert manifest["disclosure"]["withheld_cells"] == {"mart_finance": 0, "mart_sufficiency": 2} == result.withheld
    assert "mart_benchmark" in manifest["disclosure"]["rules"]["marts"]
    assert {m["name"]: m["rows"] for m in manifest["marts"]} == {"mart_finance": 5, "mart_sufficiency": 2} == result.rows
    listed = set()
    for mart in manifest["marts"]:
        for form, entry in mart["files"].items():
            path = result.path / entry["path"]
            listed.add(entry["path"])
            assert entry["sha256"] == _sha256(path) and entry["bytes"] == path.stat().st_size
        if mart["name"] == "mart_sufficiency":
            types = {c["name"]: (c["type"], c["disclosure"]) for c in mart["columns"]}
            assert types["foster_inhouse"] == ("BIGINT", "counts")
            assert types["inhouse_fostering_share"] == ("DOUBLE", "derived")
            assert types["approved_households"] == ("BIGINT", "as_is")
            assert types[WITHHELD] == ("VARCHAR", "withheld_list")
            assert [c["name"] for c in mart["columns"]] == list(pd.read_parquet(result.path / "mart_sufficiency.parquet").columns)
    dictionary = manifest["dictionary_file"]
    assert dictionary["path"] == "data_dictionary.csv" and dictionary["sha256"] == _sha256(result.path / "data_dictionary.csv")
    assert listed | {"manifest.json", "data_dictionary.csv"} == {p.name for p in result.path.iterdir()}
    suff = pd.read_parquet(result.path / "mart_sufficiency.parquet")
    assert suff[WITHHELD].tolist() == ["foster_inhouse,inhouse_fostering_share", ""]
    assert suff["foster_inhouse_withheld"].tolist() == [True, False] and suff["fostering_withheld"].tolist() == [False, False]
    assert suff["approved_households"].tolist() == [2, 4]
    # the same warehouse gives the same files, byte for byte
    again = publish(warehouse, publish_dir, keep=5, threshold=THRESHOLD)
    files = lambda r: {m["name"]: m["files"] for m in json.loads(r.manifest_path.read_text())["marts"]}  # noqa: E731
    assert files(again) == files(result)


def test_latest_points_at_the_newest_and_old_versions_are_pruned(tiny):
    warehouse, publish_dir = tiny
    assert read_latest(publish_dir) is None
    made = []
    for hour in range(5):
        made.append(publish(warehouse, publish_dir, keep=2, threshold=THRESHOLD, now=dt.datetime(2024, 5, 1, hour, 0, 0)).version)
        latest = publish_dir / "latest"
        assert latest.is_symlink() and os.readlink(latest) == made[-1]
        assert read_latest(publish_dir) == (publish_dir / made[-1]).resolve()
        assert json.loads((publish_dir / "latest.json").read_text())["version"] == made[-1]
    assert versions(publish_dir) == made[-3:]  # the latest and the 2 newest before it
    again = publish(warehouse, publish_dir, keep=2, threshold=THRESHOLD, now=dt.datetime(2024, 5, 1, 4, 0, 0))
    assert again.version == made[-1] + "-2" and os.readlink(publish_dir / "latest") == again.version
    assert versions(publish_dir) == [made[-2], made[-1], again.version]
    # tools that cannot follow symlinks use latest.json
    (publish_dir / "latest").unlink()
    assert read_latest(publish_dir) == again.path.resolve()
    assert {p.name for p in publish_dir.iterdir()} == {*versions(publish_dir), "latest.json", ".publish.lock"}


def test_finish_adds_to_the_version_before_latest_moves_to_it(tiny):
    warehouse, publish_dir = tiny
    seen = {}

    def finish(folder: Path) -> None:  # as the report is added
        seen["complete"] = (folder / "manifest.json").exists()
        seen["latest"] = read_latest(publish_dir)
        (folder / "report").mkdir()
        (folder / "report" / "index.html").write_text("<html></html>")

    result = publish(warehouse, publish_dir, keep=5, threshold=THRESHOLD, finish=finish)
    assert seen == {"complete": True, "latest": None}  # the whole version was there, and not yet the latest
    assert (publish_dir / "latest" / "report" / "index.html").exists() and (result.path / "report").is_dir()

    def broken(folder: Path) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError):
        publish(warehouse, publish_dir, keep=5, threshold=THRESHOLD, finish=broken, now=dt.datetime(2030, 1, 1))
    assert read_latest(publish_dir) == result.path and versions(publish_dir) == [result.version]


def test_a_publish_that_fails_half_way_leaves_latest_untouched(tiny, monkeypatch):
    warehouse, publish_dir = tiny
    first = publish(warehouse, publish_dir, keep=5, threshold=THRESHOLD)
    with duckdb.connect(str(warehouse)) as con:  # both marts changed: neither is carried, both are written
        con.execute("UPDATE marts.mart_finance SET actual = actual + 1")
        con.execute("UPDATE marts.mart_sufficiency SET approved_households = approved_households + 1")
    real, calls = writer._write_csv, []

    def failing(frame, schema, path):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk full")
        real(frame, schema, path)

    monkeypatch.setattr(writer, "_write_csv", failing)
    with pytest.raises(OSError, match="disk full"):
        publish(warehouse, publish_dir, keep=5, threshold=THRESHOLD)
    assert read_latest(publish_dir) == first.path.resolve() and os.readlink(publish_dir / "latest") == first.version
    assert versions(publish_dir) == [first.version]
    assert not [p for p in publish_dir.iterdir() if p.name.startswith(".staging-")]


KILLED_PUBLISH = """
import sys
from pathlib import Path
from orchestration.publish.writer import publish
publish(Path(sys.argv[1]), Path(sys.argv[2]), keep=5, threshold=5)
"""


def test_a_killed_publish_leaves_latest_on_the_previous_complete_version(tiny):
    warehouse, publish_dir = tiny
    previous = publish(warehouse, publish_dir, keep=5, threshold=THRESHOLD, now=dt.datetime(2024, 1, 1))
    previous_files = {p.name: _sha256(p) for p in previous.path.iterdir()}

    env = {**os.environ, writer.PAUSE_AFTER_FILES_ENV: "3", writer.PAUSE_SECONDS_ENV: "120"}
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_PUBLISH, str(warehouse), str(publish_dir)],
        env=env, cwd=PROJECT_ROOT, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        staging = []
        while time.monotonic() < deadline:
            staging = [p for p in publish_dir.iterdir() if p.name.startswith(".staging-")]
            if staging and len(list(staging[0].iterdir())) >= 3:
                break
            assert child.poll() is None, child.stderr.read()
            time.sleep(0.05)
        assert staging and len(list(staging[0].iterdir())) == 3, "the publish never reached its pause"
        assert read_latest(publish_dir) == previous.path.resolve()  # mid-publish: readers see the previous one
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL

    assert os.readlink(publish_dir / "latest") == previous.version
    assert read_latest(publish_dir) == previous.path.resolve()
    assert json.loads((publish_dir / "latest.json").read_text())["version"] == previous.version
    assert {p.name: _sha256(p) for p in previous.path.iterdir()} == previous_files
    manifest = json.loads(previous.manifest_path.read_text())
    for mart in manifest["marts"]:
        for entry in mart["files"].values():
            assert _sha256(previous.path / entry["path"]) == entry["sha256"]
    stale = staging[0]
    assert stale.exists() and not (stale / "manifest.json").exists()
    assert versions(publish_dir) == [previous.version]

    following = publish(warehouse, publish_dir, keep=5, threshold=THRESHOLD)
    assert read_latest(publish_dir) == following.path.resolve()
    assert not stale.exists() and not [p for p in publish_dir.iterdir() if p.name.startswith(".staging-")]
    assert versions(publish_dir) == [previous.version, following.version]


def test_no_withheld_count_can_be_worked_out_by_subtraction():
    """Secondary suppression: a row never publishes a total and all but one of its parts."""
    rules = load_rules()
    parts = ["foster_inhouse", "foster_connected", "foster_ifa", "foster_other_la", "residential_inhouse",
             "residential_external", "residential_school", "secure", "supported_accommodation",
             "placed_with_parents", "placed_for_adoption", "other"]
    row = dict.fromkeys(parts, 0) | {"foster_inhouse": 40, "foster_connected": 12, "foster_ifa": 30, "secure": 2, "placed_with_parents": 9}
    children = sum(row.values())
    frame = pd.DataFrame([row | {
        "la_code": "E08000009", "la_name": "Trafford", "region": "North West", "hub": "Greater Manchester",
        "period": dt.date(2023, 9, 1), "children_looked_after": children, "fostering": 82, "children_in_area": 60,
        "requests": 20, "placed_in_house": 9, "placed_external": 8, "not_placed": 3, "children_3plus_placements_12m": 7,
        "inhouse_fostering_share": 52 / 82, "family_based_share": 91 / children, "residential_share": 0.0,
        "in_area_share": 60 / children, "cla_rate_per_10k": 17.0, "inhouse_fill_rate": 9 / 20, "moves_3plus_12m_share": 7 / children,
        "approved_households": 80, "approved_places": 100, "places_filled": 52, "places_vacant": 30, "places_unavailable": 18,
        "place_utilisation": 52 / 82, "r12_net_places_change": 2, "r12_months": 12,
    }])
    out = apply_disclosure({"mart_sufficiency": frame}, 5, rules)["mart_sufficiency"].iloc[0]
    # the small counts themselves
    assert pd.isna(out["secure"]) and pd.isna(out["not_placed"])
    # and one more cell of each sum they sit in: the smallest non-zero published part
    assert pd.isna(out["placed_with_parents"])  # 9: smallest non-zero part of children_looked_after besides secure
    assert pd.isna(out["placed_external"])  # 8 < 9: smallest other part of requests
    for total, members in rules.marts["mart_sufficiency"].additive:
        hidden = sum(pd.isna(out[c]) for c in (total, *members))
        assert hidden != 1, (total, hidden)
    # figures derived from a cell withheld this way are withheld too; those that are not are kept
    assert pd.isna(out["family_based_share"])  # uses placed_with_parents
    assert out["inhouse_fill_rate"] == pytest.approx(9 / 20)  # placed_in_house and requests are both published
    assert set(out["withheld"].split(",")) >= {"secure", "placed_with_parents", "not_placed", "placed_external"}


def test_an_unchanged_warehouse_makes_no_new_version_when_asked(tiny):
    warehouse, publish_dir = tiny
    first = publish(warehouse, publish_dir, keep=5, threshold=THRESHOLD, skip_unchanged=True)
    again = publish(warehouse, publish_dir, keep=5, threshold=THRESHOLD, skip_unchanged=True, now=dt.datetime(2030, 1, 1))
    assert again.unchanged and again.version == first.version and again.path == first.path
    assert versions(publish_dir) == [first.version]
    assert not [p for p in publish_dir.iterdir() if p.name.startswith(".staging-")]
    # a changed mart is a new version
    with duckdb.connect(str(warehouse)) as con:
        con.execute("UPDATE marts.mart_finance SET actual = actual + 1")
    changed = publish(warehouse, publish_dir, keep=5, threshold=THRESHOLD, skip_unchanged=True, now=dt.datetime(2030, 1, 2))
    assert not changed.unchanged and changed.version != first.version
    assert read_latest(publish_dir) == changed.path
