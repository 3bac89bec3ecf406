"""The synthetic sample generator: deterministic, in the contract's shape, and consistent.

The returns are read back here with pandas, zipfile and python_calamine (not
with the pipeline's own reader), and every rule of the return contract, plus
the cross-month consistency the marts rely on, is checked on the default
8 LA x 30 month sample.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from python_calamine import CalamineWorkbook

from orchestration.reference import cost_ranges, local_authorities, placement_categories
from orchestration.returns.schema import load_contract
from orchestration.sample import generate, ordered_las, slug, trafford_series

DEFAULT_LAS = {
    "bolton": ("E08000001", "zip"),
    "bury": ("E08000002", "xlsx"),
    "stockport": ("E08000007", "zip"),
    "trafford": ("E08000009", "zip"),
    "medway": ("887", "zip"),
    "brighton-and-hove": ("E06000043", "zip"),
    "reading": ("870", "xlsx"),
    "wokingham": ("E06000041", "folder"),
}
INT_COLUMNS = {
    "recruitment": ["enquiries", "initial_visits", "applications", "assessments_in_progress", "approvals",
                    "applications_withdrawn"],
    "households": ["approved_households", "approved_places", "places_filled", "places_vacant",
                   "places_unavailable", "households_on_hold"],
    "deregistrations": ["households"],
    "withdrawals": ["applications"],
    "placement_requests": ["requests", "placed_in_house", "placed_external", "not_placed"],
    "placements": ["sibling_group_size"],
}


# ---------------------------------------------------------------------------
# Reading returns back (independently of the pipeline's reader)
# ---------------------------------------------------------------------------
def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d" if value.time() == dt.time(0) else "%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def read_return(path: Path) -> dict[str, pd.DataFrame]:
    """Every table of a return as strings, whatever its form."""
    if path.is_dir():
        return {f.stem: pd.read_csv(f, dtype=str, keep_default_na=False) for f in sorted(path.glob("*.csv"))}
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            return {
                Path(name).stem: pd.read_csv(io.BytesIO(archive.read(name)), dtype=str, keep_default_na=False)
                for name in archive.namelist()
            }
    workbook = CalamineWorkbook.from_path(str(path))
    tables = {}
    for name in workbook.sheet_names:
        rows = workbook.get_sheet_by_name(name).to_python()
        tables[name] = pd.DataFrame([[_cell(v) for v in row] for row in rows[1:]], columns=[str(h) for h in rows[0]])
    return tables


def returns_under(root: Path) -> list[Path]:
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in (".zip", ".xlsx"):
            found.append(path)
        elif path.is_dir() and any(f.suffix == ".csv" for f in path.iterdir()):
            found.append(path)
    return found


def load(root: Path) -> dict[str, pd.DataFrame]:
    """All regular (not resubmitted) returns under root, one frame per table with la/period/path columns."""
    frames: dict[str, list[pd.DataFrame]] = {}
    for path in returns_under(root):
        if "resubmissions" in path.parts:
            continue
        tables = read_return(path)
        submission = tables["submission"].iloc[0]
        for name, frame in tables.items():
            frame = frame.copy()
            for column in INT_COLUMNS.get(name, []):
                frame[column] = frame[column].astype(int)
            frame["la"] = slug_of(path)
            frame["period"] = submission["period"]
            frame["path"] = str(path)
            frames.setdefault(name, []).append(frame)
    out = {name: pd.concat(parts, ignore_index=True) for name, parts in frames.items()}
    placements = out["placements"]
    for column in ("date_of_birth", "placement_start", "placement_end"):
        placements[column] = pd.to_datetime(placements[column].replace("", None))
    placements["weekly_cost"] = placements["weekly_cost"].astype(float)
    placements["first_day"] = pd.to_datetime(placements["period"] + "-01")
    placements["last_day"] = placements["first_day"] + pd.offsets.MonthEnd(0)
    placements["open_at_end"] = (placements["placement_start"] <= placements["last_day"]) & (
        placements["placement_end"].isna() | (placements["placement_end"] > placements["last_day"])
    )
    categories = placement_categories()
    specific = categories[categories["placement_provider"] != ""].set_index(["placement_type", "placement_provider"])
    generic = categories[categories["placement_provider"] == ""].set_index("placement_type")["category"]
    key = pd.MultiIndex.from_frame(placements[["placement_type", "placement_provider"]])
    placements["category"] = specific["category"].reindex(key).to_numpy()
    placements["category"] = placements["category"].fillna(placements["placement_type"].map(generic))
    finance = out["finance"]
    finance["actual"] = finance["actual"].astype(float)
    finance["budget"] = finance["budget"].astype(float)
    return out


def slug_of(path: Path) -> str:
    parts = path.parts
    return parts[parts.index("resubmissions") - 1] if "resubmissions" in parts else path.parent.name


def files_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------------------
# Small runs
# ---------------------------------------------------------------------------
def test_trafford_series_is_bundled_and_reconciles():
    series = trafford_series()
    assert list(series["period"]) == [f"2021-{m:02d}" for m in range(4, 13)] + ["2022-01", "2022-02"]
    # The reference README says 216 enquiries; the monthly figures add up to 196.
    assert series[["enquiries", "initial_visits", "applications", "approvals", "carer_exits"]].sum().tolist() == [
        196, 16, 6, 4, 12,
    ]
    households = series["approved_households"]
    assert (households.diff().iloc[1:] == (series["approvals"] - series["carer_exits"]).iloc[1:]).all()
    assert households.iloc[-1] == 83


def test_la_order_alternates_the_two_hubs_then_follows_the_reference_list():
    names = ordered_las()["la_name"].tolist()
    assert names[:8] == ["Bolton", "Medway", "Bury", "Brighton and Hove", "Stockport", "Reading", "Trafford", "Wokingham"]
    rest = [n for n in local_authorities()["la_name"] if n not in names[:8]]
    assert names[8:] == rest and len(names) == 24


def test_same_arguments_give_byte_identical_files(tmp_path):
    first = generate(tmp_path / "a", las=3, months=3)
    second = generate(tmp_path / "b", las=3, months=3)
    assert [p.relative_to(tmp_path / "a") for p in first] == [p.relative_to(tmp_path / "b") for p in second]
    assert files_bytes(tmp_path / "a") == files_bytes(tmp_path / "b")
    generate(tmp_path / "c", las=3, months=3, seed=2)
    assert files_bytes(tmp_path / "c") != files_bytes(tmp_path / "a")


def test_mixed_layout_and_returned_paths(tmp_path):
    paths = generate(tmp_path, las=3, months=2, start="2022-11")
    expected = [
        tmp_path / "bolton" / "2022-11.zip", tmp_path / "bolton" / "2022-12.zip",
        tmp_path / "medway" / "2022-11.zip", tmp_path / "medway" / "2022-12.zip",
        tmp_path / "bury" / "2022-11.xlsx", tmp_path / "bury" / "2022-12.xlsx",
    ]
    assert paths == expected
    assert returns_under(tmp_path) == sorted(expected)


@pytest.mark.parametrize("form", ["zip", "xlsx", "folder"])
def test_one_form_for_every_return(tmp_path, form):
    paths = generate(tmp_path, las=2, months=2, forms=form)
    assert len(paths) == 4
    contract = load_contract("1.0")
    for path in paths:
        if form == "folder":
            assert path.is_dir() and path.name in ("2021-04", "2021-05")
        else:
            assert path.suffix == f".{form}"
        tables = read_return(path)
        assert sorted(tables) == sorted(contract.tables)
        if form != "folder":  # a folder has no order
            assert list(tables) == list(contract.tables)
        for name, table in contract.tables.items():
            assert list(tables[name].columns) == table.column_names, (path, name)
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", tables["submission"].at[0, "submitted_at"])


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="only 24"):
        generate(tmp_path, las=25)
    with pytest.raises(ValueError, match="forms"):
        generate(tmp_path, las=1, months=1, forms="csv")
    with pytest.raises(ValueError, match="YYYY-MM"):
        generate(tmp_path, las=1, months=1, start="2021-4")
    assert not any(tmp_path.iterdir())


def test_trafford_has_no_return_before_its_real_series(tmp_path):
    generate(tmp_path / "real", las=7, months=4, start="2021-02")
    periods = {p.parent.name: [] for p in returns_under(tmp_path / "real")}
    for path in returns_under(tmp_path / "real"):
        periods[path.parent.name].append(path.stem)
    assert periods["trafford"] == ["2021-04", "2021-05"]
    assert periods["bolton"] == ["2021-02", "2021-03", "2021-04", "2021-05"]
    series = trafford_series().set_index("period")
    tables = read_return(tmp_path / "real" / "trafford" / "2021-05.zip")
    mainstream = tables["recruitment"].set_index("carer_type").loc["mainstream"]
    assert int(mainstream["enquiries"]) == series.at["2021-05", "enquiries"]

    generate(tmp_path / "synthetic", las=7, months=2, start="2021-02", with_trafford=False)
    assert [p.stem for p in returns_under(tmp_path / "synthetic" / "trafford")] == ["2021-02", "2021-03"]
    assert generate(tmp_path / "early", las=7, months=2, start="2020-01") and not (tmp_path / "early" / "trafford").exists()


# ---------------------------------------------------------------------------
# The default sample (8 LAs x 30 months)
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def default_sample(tmp_path_factory):
    root = tmp_path_factory.mktemp("sample")
    paths = generate(root)
    return root, paths, load(root)


def test_default_layout_forms_and_size(default_sample):
    root, paths, _ = default_sample
    assert sorted(p.name for p in root.iterdir()) == sorted(DEFAULT_LAS)
    months = [str(m) for m in np.datetime64("2021-04") + np.arange(30)]
    for slug, (_, form) in DEFAULT_LAS.items():
        regular = [p for p in returns_under(root / slug) if "resubmissions" not in p.parts]
        assert [p.name for p in regular] == [m if form == "folder" else f"{m}.{form}" for m in months]
    resubmission = root / "bolton" / "resubmissions" / "2022-06-v2.zip"
    assert resubmission in paths and len(paths) == 241
    on_disk = sum(p.stat().st_blocks * 512 for p in root.rglob("*"))
    assert on_disk < 8 * 1024 * 1024


def test_submissions(default_sample):
    _, _, data = default_sample
    submission = data["submission"]
    assert len(submission) == 240
    for slug, (code, _) in DEFAULT_LAS.items():
        assert set(submission.loc[submission["la"] == slug, "la_code"]) == {code}
        assert set(submission.loc[submission["la"] == slug, "contact_email"]) == {f"fostering.data@{slug}.gov.uk"}
    assert (submission["return_version"] == "1.0").all()
    assert (submission["period"] == submission["path"].map(lambda p: Path(p).stem)).all()
    submitted = pd.to_datetime(submission["submitted_at"])
    following = pd.to_datetime(submission["period"] + "-01") + pd.offsets.MonthBegin(1)
    assert (submitted >= following).all()
    assert (submitted < following + pd.Timedelta(days=25)).all()
    late = submitted.dt.day > 15
    assert 0 < late.sum() < 0.2 * len(submission)


def test_resubmission_supersedes_with_corrected_recruitment(default_sample):
    root, _, _ = default_sample
    first = read_return(root / "bolton" / "2022-06.zip")
    second = read_return(root / "bolton" / "resubmissions" / "2022-06-v2.zip")
    assert first["submission"].at[0, "period"] == second["submission"].at[0, "period"] == "2022-06"
    assert first["submission"].at[0, "la_code"] == second["submission"].at[0, "la_code"]
    assert pd.Timestamp(second["submission"].at[0, "submitted_at"]) > pd.Timestamp(first["submission"].at[0, "submitted_at"])
    assert pd.Timestamp(second["submission"].at[0, "submitted_at"]) < pd.Timestamp("2022-07-26")
    assert not first["recruitment"].equals(second["recruitment"])
    for name in first:
        if name not in ("submission", "recruitment"):
            assert first[name].equals(second[name]), name


def test_households_reconcile_and_places_add_up(default_sample):
    _, _, data = default_sample
    households = data["households"]
    recruitment = data["recruitment"].set_index(["la", "period", "carer_type"])
    deregistered = data["deregistrations"].groupby(["la", "period", "carer_type"])["households"].sum()
    places = households[["places_filled", "places_vacant", "places_unavailable"]].sum(axis=1)
    assert (places == households["approved_places"]).all()
    assert set(households["carer_type"]) == {"mainstream", "connected"}
    for (la, carer), frame in households.groupby(["la", "carer_type"]):
        frame = frame.sort_values("period")
        keys = [(la, p, carer) for p in frame["period"]]
        approvals = recruitment["approvals"].reindex(keys).to_numpy()
        exits = deregistered.reindex(keys).fillna(0).to_numpy()
        stock = frame["approved_households"].to_numpy()
        assert (stock[1:] == stock[:-1] + approvals[1:] - exits[1:]).all(), (la, carer)
    mainstream = households[households["carer_type"] == "mainstream"]
    per_household = mainstream["approved_places"] / mainstream["approved_households"]
    assert per_household.between(1.2, 1.6).all()
    fill = mainstream["places_filled"].sum() / mainstream["approved_places"].sum()
    assert 0.6 < fill < 0.8
    assert (mainstream["households_on_hold"] <= mainstream["places_unavailable"]).all()


def test_places_filled_equals_placements_open_at_month_end(default_sample):
    _, _, data = default_sample
    placements = data["placements"]
    open_at_end = placements[placements["open_at_end"]]
    households = data["households"].set_index(["la", "period", "carer_type"])["places_filled"]
    for carer, categories in (("mainstream", ["foster_inhouse"]), ("connected", ["foster_connected"])):
        counted = open_at_end[open_at_end["category"].isin(categories)].groupby(["la", "period"]).size()
        reported = households.xs(carer, level="carer_type")
        assert counted.reindex(reported.index).fillna(0).astype(int).equals(reported), carer
    inhouse = open_at_end[open_at_end["category"] == "foster_inhouse"]
    assert inhouse["placement_type"].isin(["U4", "U5", "U6"]).all() and (inhouse["placement_provider"] == "PR1").all()


def test_withdrawals_deregistrations_and_requests(default_sample):
    _, _, data = default_sample
    recruitment = data["recruitment"].set_index(["la", "period", "carer_type"])
    withdrawals = data["withdrawals"]
    assert (withdrawals["applications"] > 0).all()
    assert not withdrawals.duplicated(["la", "period", "carer_type", "reason_code"]).any()
    assert set(withdrawals["reason_code"]) <= {"AW0", "AW1", "AW2", "AW3", "AW4", "AW5"}
    by_type = withdrawals.groupby(["la", "period", "carer_type"])["applications"].sum()
    expected = recruitment["applications_withdrawn"]
    assert by_type.reindex(expected.index).fillna(0).astype(int).equals(expected)

    deregistrations = data["deregistrations"]
    assert (deregistrations["households"] > 0).all()
    assert not deregistrations.duplicated(["la", "period", "carer_type", "reason_code"]).any()
    reasons = deregistrations.groupby("reason_code")["households"].sum()
    assert reasons.idxmax() == "DER3"
    assert {"DER1", "DER2", "DER6"} <= set(reasons.index) <= {f"DER{i}" for i in range(1, 7)}

    requests = data["placement_requests"]
    needs = load_contract("1.0").code_lists["need_category"].codes
    assert all(sorted(v) == sorted(needs) for v in requests.groupby(["la", "period"])["need_category"].apply(list))
    total = requests[["placed_in_house", "placed_external", "not_placed"]].sum(axis=1)
    assert (total == requests["requests"]).all()


def test_recruitment_funnel_is_plausible(default_sample):
    _, _, data = default_sample
    recruitment = data["recruitment"]
    mainstream = recruitment[recruitment["carer_type"] == "mainstream"]
    assert mainstream["assessments_in_progress"].between(1, 14).all()
    assert mainstream.groupby("la")["enquiries"].mean().between(10, 35).all()
    for (la, carer), frame in recruitment.groupby(["la", "carer_type"]):
        frame = frame.sort_values("period")
        rolling = frame["approvals"].rolling(12).sum() / frame["enquiries"].rolling(12).sum()
        rolling = rolling[frame["period"].to_numpy() >= ("2023-02" if la == "trafford" else "2022-03")]
        assert rolling.between(0.02, 0.12).all(), (la, carer, rolling.min(), rolling.max())
    # The series itself converts at about 2 %; its financial year still lands at 2 %.
    trafford = mainstream[(mainstream["la"] == "trafford") & mainstream["period"].between("2021-04", "2022-03")]
    assert trafford["approvals"].sum() / trafford["enquiries"].sum() >= 0.02
    # Over the sample an LA loses roughly as many mainstream households as it gains.
    exits = data["deregistrations"].query("carer_type == 'mainstream'").groupby("la")["households"].sum()
    gains = mainstream.groupby("la")["approvals"].sum()
    assert ((exits - gains).abs() <= 0.5 * gains + 5).all()


def test_trafford_real_series(default_sample):
    _, _, data = default_sample
    series = trafford_series().set_index("period")
    recruitment = data["recruitment"].query("la == 'trafford' and carer_type == 'mainstream'").set_index("period")
    households = data["households"].query("la == 'trafford' and carer_type == 'mainstream'").set_index("period")
    exits = data["deregistrations"].query("la == 'trafford' and carer_type == 'mainstream'")
    columns = ["enquiries", "initial_visits", "applications", "assessments_in_progress", "approvals"]
    assert recruitment.loc[series.index, columns].equals(series[columns])
    assert (households.loc[series.index, "approved_households"] == series["approved_households"]).all()
    assert (households.loc[series.index, "places_filled"] == series["children_placed"]).all()
    in_series = exits[exits["period"].isin(series.index)]
    assert in_series.groupby("period")["households"].sum().reindex(series.index).fillna(0).astype(int).equals(
        series["carer_exits"]
    )
    assert in_series.groupby("reason_code")["households"].sum().to_dict() == {"DER2": 2, "DER3": 10}
    assert households.index.min() == "2021-04"


def test_placements_obey_every_contract_rule(default_sample):
    _, _, data = default_sample
    p = data["placements"]
    assert p["category"].notna().all()
    retired = p["placement_type"].isin(["H5", "P2"])
    assert (p.loc[retired, "period"] <= "2025-03").all()
    # The placement overlaps the month; an end inside the month, blank otherwise.
    assert (p["placement_start"] <= p["last_day"]).all()
    ended = p["placement_end"].notna()
    assert p.loc[ended, "placement_end"].between(p.loc[ended, "first_day"], p.loc[ended, "last_day"]).all()
    assert (p.loc[ended, "placement_end"] > p.loc[ended, "placement_start"]).all()
    # Dates of birth, age under 18 at the start.
    assert (p["date_of_birth"] <= p["placement_start"]).all()
    eighteenth = p["date_of_birth"] + pd.DateOffset(years=18)
    assert (p["placement_start"] < eighteenth).all()
    assert (p.loc[ended, "placement_end"] <= eighteenth[ended]).all()
    assert not (p["placement_end"].isna() & (eighteenth <= p["last_day"])).any()
    assert not p.duplicated(["la", "period", "child_id", "placement_start"]).any()
    # Codes and identifiers.
    for column in ("uasc", "disability", "in_area"):
        assert set(p[column]) == {"Y", "N"}
    assert (p["sibling_group_size"] >= 1).all()
    assert p["child_id"].str.fullmatch(r"[A-Z]{3}\d{6}").all()
    in_house = p["category"].isin(["foster_inhouse", "foster_connected"])
    assert p.loc[in_house, "carer_household_id"].str.fullmatch(r"[A-Z]{3}-HH\d{4,}").all()
    assert (p.loc[~in_house, "carer_household_id"] == "").all()
    # A child's details never change.
    assert (p.groupby(["la", "child_id"])[["date_of_birth", "uasc", "disability"]].nunique() == 1).all().all()


def test_placements_are_consistent_over_time(default_sample):
    _, _, data = default_sample
    p = data["placements"]
    key = ["la", "child_id", "placement_start"]
    # A placement's details never change; an ended one never comes back.
    assert (p.groupby(key)[["placement_type", "placement_provider", "weekly_cost", "carer_household_id"]].nunique() == 1).all().all()
    last_seen = p.groupby(key)["period"].max()
    ended_in = p[p["placement_end"].notna()].groupby(key)["period"].max()
    assert (last_seen.reindex(ended_in.index) == ended_in).all()
    # Open at month end -> in the next month's return (unless it is the last month).
    months = sorted(p["period"].unique())
    following = dict(zip(months, months[1:]))
    still_open = p[p["placement_end"].isna() & (p["period"] != months[-1])]
    present = set(zip(p["la"], p["child_id"], p["placement_start"], p["period"]))
    nxt = still_open["period"].map(following)
    assert all(k in present for k in zip(still_open["la"], still_open["child_id"], still_open["placement_start"], nxt))
    # No child in two placements on the same day: [start, end) intervals never overlap.
    final = p.sort_values("period").groupby(key, as_index=False).last().sort_values(key)
    same_child = final["child_id"].eq(final["child_id"].shift()) & final["la"].eq(final["la"].shift())
    previous_end = final["placement_end"].shift()
    assert not (same_child & (previous_end.isna() | (final["placement_start"] < previous_end))).any()
    # Moves: the next placement starts on the day the last one ended.
    moves = same_child & (final["placement_start"] == previous_end)
    assert moves.sum() > 500
    # Some placements started years before the first month.
    assert (final["placement_start"] < pd.Timestamp("2018-04-01")).sum() > 100


def test_placement_mix_size_stability_and_costs(default_sample):
    _, _, data = default_sample
    p = data["placements"]
    at_end = p[p["open_at_end"]]
    mix = at_end["category"].value_counts(normalize=True)
    assert 0.33 <= mix["foster_inhouse"] <= 0.42
    assert 0.05 <= mix["foster_connected"] <= 0.10
    assert 0.25 <= mix["foster_ifa"] + mix["foster_other_la"] <= 0.35
    assert 0.07 <= mix["residential_external"] <= 0.11
    for category in ("placed_with_parents", "placed_for_adoption"):
        assert 0.025 <= mix[category] <= 0.06
    las = local_authorities()
    population = pd.Series(las["child_population_0_17"].astype(int).to_numpy(), index=las["la_name"].map(slug))
    children = at_end.groupby(["la", "period"])["child_id"].nunique()
    rate = children / population.reindex(children.index.get_level_values("la")).to_numpy() * 10_000
    assert rate.between(55, 105).all()
    # About 10 % of children have 3 or more placements in 12 months.
    shares = []
    for la, frame in p.groupby("la"):
        window = frame[frame["period"].between("2022-10", "2023-09")]
        counts = window.drop_duplicates(["child_id", "placement_start"]).groupby("child_id").size()
        at_year_end = window[(window["period"] == "2023-09") & window["open_at_end"]]["child_id"].unique()
        shares.append((counts.reindex(at_year_end) >= 3).mean())
    assert 0.05 <= np.mean(shares) <= 0.15
    # Costs inside the reference ranges, and near the calibration figures.
    ranges = cost_ranges().set_index("category")
    low = p["category"].map(ranges["min_weekly_cost"])
    high = p["category"].map(ranges["max_weekly_cost"])
    assert p["weekly_cost"].between(low, high).all()
    placements = p.drop_duplicates(["la", "child_id", "placement_start"])
    mean_cost = placements.groupby("category")["weekly_cost"].mean()
    assert 320 <= mean_cost["foster_inhouse"] <= 370
    assert 850 <= mean_cost["foster_ifa"] <= 920
    assert 3500 <= mean_cost["residential_external"] <= 7000


def test_finance_follows_the_placements(default_sample):
    _, _, data = default_sample
    finance = data["finance"]
    lines = load_contract("1.0").code_lists["cost_line"].codes
    assert all(sorted(v) == sorted(lines) for v in finance.groupby(["la", "period"])["cost_line"].apply(list))
    assert ((finance["actual"] * 100).round(6) % 1 == 0).all()
    p = data["placements"]
    end = p["placement_end"].fillna(p["last_day"] + pd.Timedelta(days=1))
    days = (end.clip(upper=p["last_day"] + pd.Timedelta(days=1)) - p["placement_start"].clip(lower=p["first_day"])).dt.days
    p = p.assign(spend=p["weekly_cost"] * days.clip(lower=0) / 7)
    actual = finance.set_index(["la", "period", "cost_line"])["actual"]
    for line, categories in {
        "fostering_allowances": ["foster_inhouse"],
        "ifa_fees": ["foster_ifa"],
        "residential_fees": ["residential_external", "residential_inhouse", "residential_school"],
        "connected_carer_allowances": ["foster_connected"],
    }.items():
        spend = p[p["category"].isin(categories)].groupby(["la", "period"])["spend"].sum()
        booked = actual.xs(line, level="cost_line").reindex(spend.index)
        assert ((booked / spend - 1).abs() <= 0.035).all(), line
    staff = actual.xs("fostering_staff", level="cost_line").groupby("la").mean() * 12
    assert staff.between(0.5e6, 1.8e6).all()
    by_line = finance.groupby("cost_line")[["actual", "budget"]].sum()
    assert by_line.at["ifa_fees", "actual"] > 1.1 * by_line.at["ifa_fees", "budget"]
