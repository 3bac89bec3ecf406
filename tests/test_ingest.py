"""Ingest: a landing folder into the warehouse, a return wholly in or wholly out.

Every broken return of tests/fixtures/broken.py is rejected whole (raw tables
untouched, the file archived byte for byte, the ledger and its findings say
why); no raw identifier reaches the warehouse, the findings reports or the
logs; ingesting twice changes nothing; a later submission supersedes an
earlier one; production refuses to run on the published development key; and
landing discovery finds returns in any arrangement of folders.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import shutil
from pathlib import Path

import pandas as pd
import pytest

from orchestration import warehouse
from orchestration.ingest import ingest_landing
from orchestration.returns.pseudonymise import pseudonym
from orchestration.returns.writers import write_return
from orchestration.settings import DEVELOPMENT_PSEUDONYM_KEY, ConfigurationError, load_settings
from tests.fixtures.broken import CASES, FORMS, case_forms, path_for, titled_placements, write_case, write_xlsx
from tests.fixtures.returns import CHILD_IDS, HOUSEHOLD_IDS, good_tables

LA = "E08000009"
REAL_KEY = "a-real-secret-key-of-forty-characters-x!"  # 40 characters
RAW_IDS = CHILD_IDS + HOUSEHOLD_IDS


def settings_for(landing: Path, data: Path, **env):
    """Settings for a tmp landing and warehouse; the size limit is 1 MB so `too_large` trips it."""
    return load_settings(
        {
            "FOSTERING_LANDING": str(landing),
            "FOSTERING_WAREHOUSE": str(data / "warehouse.duckdb"),
            "FOSTERING_MAX_EXPANDED_MB": "1",
            **env,
        }
    )


def raw_counts(settings) -> dict[str, int]:
    return {k: v for k, v in warehouse.table_counts(settings.warehouse).items() if k.startswith("raw.")}


def query(settings, sql: str, params=None) -> pd.DataFrame:
    with warehouse.connect(settings.warehouse, read_only=True) as con:
        return con.execute(sql, params or []).df()


def ledger(settings) -> pd.DataFrame:
    return query(settings, "SELECT * FROM ops.submissions ORDER BY submission_id")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree(path: Path) -> dict[str, bytes]:
    """A file's bytes, or a folder's files' bytes by relative name."""
    if path.is_file():
        return {"": path.read_bytes()}
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Path:
    """A warehouse (and its archive and findings) holding one good return, to copy per test."""
    root = tmp_path_factory.mktemp("baseline")
    landing = root / "landing"
    write_return(good_tables(), landing / "trafford-2023-09.xlsx", "xlsx")
    settings = settings_for(landing, root / "data")
    summary = ingest_landing(settings)
    assert [o.status for o in summary.outcomes] == ["accepted"]
    return root / "data"


@pytest.fixture
def loaded(baseline, tmp_path):
    """Settings for a fresh landing and a copy of the baseline warehouse."""
    data = tmp_path / "data"
    shutil.copytree(baseline, data)
    landing = tmp_path / "landing"
    landing.mkdir()
    return settings_for(landing, data)


# --- every broken return is rejected whole ---------------------------------------------


@pytest.mark.parametrize(("name", "form"), case_forms(), ids=[f"{n}-{f}" for n, f in case_forms()])
def test_broken_return_is_rejected_whole(loaded, name, form):
    settings = loaded
    before_raw = raw_counts(settings)
    assert before_raw["raw.placements"] == 4  # the good return is in
    before_ledger = len(ledger(settings))
    path = write_case(name, settings.landing, form)

    summary = ingest_landing(settings)

    assert [o.status for o in summary.outcomes] == ["rejected"], summary.outcomes
    outcome = summary.outcomes[0]
    assert outcome.errors > 0 and outcome.placement_rows == 0

    # Nothing of it reached the raw tables.
    assert raw_counts(settings) == before_raw

    # The file is kept, as received, under its checksum.
    if path.is_file():
        assert outcome.submission_id == sha256(path)
    kept = settings.archive_dir / outcome.submission_id / path.name
    assert kept.exists()
    assert tree(kept) == tree(path)

    # The ledger says so, and its findings name the problem.
    rows = ledger(settings)
    assert len(rows) == before_ledger + 1
    row = rows.set_index("submission_id").loc[outcome.submission_id]
    assert row["status"] == "rejected"
    assert row["errors"] > 0
    assert not row["is_current"]
    assert pd.isna(row["superseded_by"])
    assert (settings.data_dir / row["archive_path"]).resolve() == kept.resolve()  # stored relative to the data folder
    codes = set(query(settings, "SELECT code FROM ops.findings WHERE submission_id = ?", [outcome.submission_id])["code"])
    assert CASES[name].codes <= codes, (CASES[name].codes, codes)

    # The good return it could have superseded is still the current one.
    current = rows[rows["is_current"]]
    assert len(current) == 1 and current["status"].iloc[0] == "accepted"

    # The LA's report exists and says rejected.
    report_json, report_html = settings.data_dir / row["findings_json"], settings.data_dir / row["findings_html"]
    assert report_json.exists() and report_html.exists()
    assert '"status": "rejected"' in report_json.read_text(encoding="utf-8")


# --- personal data ---------------------------------------------------------------------


def _varchar_values(settings) -> dict[str, list[str]]:
    """Every VARCHAR column of every table in the warehouse: 'schema.table.column' -> its values."""
    with warehouse.connect(settings.warehouse, read_only=True) as con:
        columns = con.execute(
            """
            SELECT table_schema, table_name, column_name FROM information_schema.columns
            WHERE data_type = 'VARCHAR' AND table_catalog = current_database()
            ORDER BY 1, 2, 3
            """
        ).fetchall()
        return {
            f"{s}.{t}.{c}": [v for (v,) in con.execute(f'SELECT DISTINCT "{c}" FROM "{s}"."{t}" WHERE "{c}" IS NOT NULL').fetchall()]
            for s, t, c in columns
        }


def test_no_raw_identifier_leaks(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    landing = tmp_path / "landing"
    for form in FORMS:
        write_return(good_tables(), path_for(landing / "good", f"trafford-{form}", form), form)
    for name, case in CASES.items():
        write_case(name, landing / "bad" / case.forms[0], case.forms[0])
    settings = settings_for(landing, tmp_path / "data")

    summary = ingest_landing(settings)

    statuses = pd.Series([o.status for o in summary.outcomes]).value_counts().to_dict()
    assert statuses == {"accepted": 3, "rejected": len(CASES)}

    values = _varchar_values(settings)
    assert "raw.placements.child_id" in values and "ops.findings.value" in values
    for raw in RAW_IDS:
        for column, found in values.items():
            assert not any(raw in v for v in found), f"{raw} found in {column}"

    reports = [p for p in settings.findings_dir.rglob("*") if p.is_file()]
    assert len(reports) == 2 * len(summary.outcomes)  # a JSON and an HTML report per return
    for report in reports:
        text = report.read_bytes()
        for raw in RAW_IDS:
            assert raw.encode() not in text, f"{raw} found in {report}"

    logged = caplog.text + "\n".join(str(r.args) for r in caplog.records)
    assert caplog.records, "ingest should log what it did"
    for raw in RAW_IDS:
        assert raw not in logged

    # Nothing raw in the warehouse file at all (only pseudonyms were ever inserted).
    database = settings.warehouse.read_bytes()
    for raw in RAW_IDS:
        assert raw.encode() not in database


def test_identifiers_are_pseudonymised_and_dates_of_birth_degraded(tmp_path):
    landing = tmp_path / "landing"
    write_return(good_tables(), landing / "trafford.zip", "zip")
    settings = settings_for(landing, tmp_path / "data")
    ingest_landing(settings)

    placements = query(settings, "SELECT * FROM raw.placements ORDER BY source_row")
    key = settings.pseudonym_key
    assert key == DEVELOPMENT_PSEUDONYM_KEY  # development default in this test
    assert placements["source_row"].tolist() == [2, 3, 4, 5]
    assert placements["child_id"].tolist() == [pseudonym(key, LA, raw) for raw in CHILD_IDS]
    assert placements["carer_household_id"].tolist()[0] == pseudonym(key, LA, HOUSEHOLD_IDS[0])
    assert pd.isna(placements["carer_household_id"].tolist()[1]) and pd.isna(placements["carer_household_id"].tolist()[2])
    assert placements["carer_household_id"].tolist()[3] == pseudonym(key, LA, HOUSEHOLD_IDS[1])
    dob = pd.to_datetime(placements["date_of_birth"])
    assert (dob.dt.day == 1).all()
    assert dob.dt.strftime("%Y-%m-%d").tolist() == ["2010-05-01", "2012-11-01", "2008-01-01", "2015-07-01"]


def test_the_same_child_keeps_its_pseudonym_across_months(tmp_path):
    landing = tmp_path / "landing"
    write_return(good_tables(period="2023-08", submitted_at="2023-09-04 09:00:00"), landing / "aug.xlsx", "xlsx")
    write_return(good_tables(), landing / "sep.xlsx", "xlsx")
    settings = settings_for(landing, tmp_path / "data")
    ingest_landing(settings)
    months = query(
        settings,
        "SELECT s.period, p.child_id FROM raw.placements p JOIN ops.submissions s USING (submission_id) ORDER BY s.period, p.source_row",
    )
    by_month = months.groupby("period")["child_id"].apply(list).tolist()
    assert len(by_month) == 2 and by_month[0] == by_month[1]


# --- idempotent ------------------------------------------------------------------------


def test_ingesting_the_same_landing_twice_changes_nothing(tmp_path):
    landing = tmp_path / "landing"
    for form in FORMS:
        write_return(good_tables(), path_for(landing, f"trafford-{form}", form), form)
    write_case("places_sum", landing, "xlsx")
    settings = settings_for(landing, tmp_path / "data")

    first = ingest_landing(settings)
    ledger_1, counts_1 = ledger(settings), warehouse.table_counts(settings.warehouse)
    files_1 = sorted(p for p in settings.data_dir.rglob("*") if p.is_file() and not p.name.endswith((".duckdb", ".wal", ".lock")))
    second = ingest_landing(settings)

    assert sorted(o.status for o in first.outcomes) == ["accepted", "accepted", "accepted", "rejected"]
    assert [o.status for o in second.outcomes] == ["already_received"] * 4
    assert [o.submission_id for o in second.outcomes] == [o.submission_id for o in first.outcomes]
    pd.testing.assert_frame_equal(ledger(settings), ledger_1)
    assert warehouse.table_counts(settings.warehouse) == counts_1
    files_2 = sorted(p for p in settings.data_dir.rglob("*") if p.is_file() and not p.name.endswith((".duckdb", ".wal", ".lock")))
    assert files_2 == files_1


# --- supersede -------------------------------------------------------------------------


def _ingest(settings, tables, name: str, form: str = "xlsx"):
    path = write_return(tables, path_for(settings.landing, name, form), form)
    summary = ingest_landing(settings, paths=[path])
    assert len(summary.outcomes) == 1
    return summary.outcomes[0]


def _version(settings, submission_id: str) -> pd.Series:
    return ledger(settings).set_index("submission_id").loc[submission_id]


def test_later_submission_supersedes_the_earlier(tmp_path):
    settings = settings_for(tmp_path / "landing", tmp_path / "data")
    first = _ingest(settings, good_tables(submitted_at="2023-10-05 10:00:00"), "first")
    corrected = good_tables(submitted_at="2023-10-20 09:30:00")
    corrected["recruitment"].loc[0, "enquiries"] = 21
    second = _ingest(settings, corrected, "second")

    assert (first.status, second.status) == ("accepted", "accepted")
    old, new = _version(settings, first.submission_id), _version(settings, second.submission_id)
    assert bool(new["is_current"]) and pd.isna(new["superseded_by"])
    assert not bool(old["is_current"]) and old["superseded_by"] == second.submission_id
    # Every version is kept.
    kept = query(settings, "SELECT submission_id, count(*) AS n FROM raw.placements GROUP BY 1").set_index("submission_id")["n"]
    assert kept.to_dict() == {first.submission_id: 4, second.submission_id: 4}
    enquiries = query(
        settings,
        "SELECT r.enquiries FROM raw.recruitment r JOIN ops.submissions s USING (submission_id) "
        "WHERE s.is_current AND r.carer_type = 'mainstream'",
    )["enquiries"].tolist()
    assert enquiries == [21]


def test_resubmission_with_an_earlier_submitted_at_does_not_become_current(tmp_path):
    settings = settings_for(tmp_path / "landing", tmp_path / "data")
    signed_later = _ingest(settings, good_tables(submitted_at="2023-10-05 10:00:00"), "signed-later")
    arrives_later = _ingest(settings, good_tables(submitted_at="2023-10-01 08:00:00"), "signed-earlier")

    assert arrives_later.status == "accepted"
    current, older = _version(settings, signed_later.submission_id), _version(settings, arrives_later.submission_id)
    assert bool(current["is_current"]) and pd.isna(current["superseded_by"])
    assert not bool(older["is_current"]) and older["superseded_by"] == signed_later.submission_id


def test_rejected_resubmission_leaves_the_earlier_one_current(tmp_path):
    settings = settings_for(tmp_path / "landing", tmp_path / "data")
    good = _ingest(settings, good_tables(submitted_at="2023-10-05 10:00:00"), "good")
    broken = good_tables(submitted_at="2023-10-20 09:30:00")
    broken["households"].loc[0, "places_vacant"] = 71
    rejected = _ingest(settings, broken, "broken")

    assert rejected.status == "rejected"
    kept, bad = _version(settings, good.submission_id), _version(settings, rejected.submission_id)
    assert bool(kept["is_current"]) and pd.isna(kept["superseded_by"])
    assert not bool(bad["is_current"]) and pd.isna(bad["superseded_by"])
    assert query(settings, "SELECT DISTINCT submission_id FROM raw.placements")["submission_id"].tolist() == [good.submission_id]


# --- production needs a real key -------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [None, "", DEVELOPMENT_PSEUDONYM_KEY, "x" * 31],
    ids=["unset", "empty", "development-key", "31-characters"],
)
def test_production_refuses_to_run_without_a_real_key(tmp_path, key):
    landing = tmp_path / "landing"
    write_return(good_tables(), landing / "trafford.xlsx", "xlsx")
    env = {"FOSTERING_ENV": "production"}
    if key is not None:
        env["FOSTERING_PSEUDONYM_KEY"] = key
    settings = settings_for(landing, tmp_path / "data", **env)

    with pytest.raises(ConfigurationError, match="FOSTERING_PSEUDONYM_KEY"):
        settings.require_real_key()
    with pytest.raises(ConfigurationError):
        ingest_landing(settings)

    assert not settings.warehouse.exists()
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").iterdir())


def test_production_runs_with_a_real_key(tmp_path):
    landing = tmp_path / "landing"
    write_return(good_tables(), landing / "trafford.xlsx", "xlsx")
    settings = settings_for(landing, tmp_path / "data", FOSTERING_ENV="production", FOSTERING_PSEUDONYM_KEY=REAL_KEY)
    settings.require_real_key()  # no error

    summary = ingest_landing(settings)

    assert [o.status for o in summary.outcomes] == ["accepted"]
    ids = query(settings, "SELECT child_id FROM raw.placements ORDER BY source_row")["child_id"].tolist()
    assert ids == [pseudonym(REAL_KEY, LA, raw) for raw in CHILD_IDS]
    assert ids[0] != pseudonym(DEVELOPMENT_PSEUDONYM_KEY, LA, CHILD_IDS[0])


# --- landing discovery -----------------------------------------------------------------


def test_landing_discovery_finds_every_return_and_reports_the_rest(tmp_path):
    landing = tmp_path / "landing"
    write_return(good_tables(period="2023-07", submitted_at="2023-08-04 10:00:00"), landing / "trafford-2023-07.xlsx", "xlsx")
    write_return(good_tables(period="2023-08", submitted_at="2023-09-04 10:00:00"), landing / "zips" / "trafford-2023-08.zip", "zip")
    write_return(good_tables(), landing / "trafford" / "2023-09" / "return", "folder")  # CSVs two levels down
    (landing / "covering-letter.pdf").write_bytes(b"%PDF-1.7\n%%EOF\n")
    (landing / "~$trafford-2023-07.xlsx").write_bytes(b"\x0bA. Analyst" + b"\x00" * 40)
    settings = settings_for(landing, tmp_path / "data")

    summary = ingest_landing(settings)

    assert sorted((o.source, o.status, o.period) for o in summary.outcomes) == [
        ("trafford-2023-07.xlsx", "accepted", "2023-07"),
        ("trafford/2023-09/return", "accepted", "2023-09"),
        ("zips/trafford-2023-08.zip", "accepted", "2023-08"),
    ]
    ignored = {i.path.name: i.reason for i in summary.ignored}
    assert set(ignored) == {"covering-letter.pdf", "~$trafford-2023-07.xlsx"}
    assert "lock file" in ignored["~$trafford-2023-07.xlsx"]
    assert "not a return" in ignored["covering-letter.pdf"]
    assert len(ledger(settings)) == 3
    assert query(settings, "SELECT count(*) AS n FROM ops.submissions WHERE is_current")["n"].iloc[0] == 3


def test_tie_on_submitted_at_goes_to_the_later_arrival(tmp_path):
    settings = settings_for(tmp_path / "landing", tmp_path / "data")
    first_tables = good_tables(submitted_at="2023-10-05 10:00:00")
    second_tables = good_tables(submitted_at="2023-10-05 10:00:00")
    second_tables["recruitment"].loc[0, "enquiries"] = 22
    first_path = write_return(first_tables, settings.landing / "first.xlsx", "xlsx")
    second_path = write_return(second_tables, settings.landing / "second.xlsx", "xlsx")
    first = ingest_landing(settings, paths=[first_path], now=dt.datetime(2023, 10, 6, 9, 0)).outcomes[0]
    second = ingest_landing(settings, paths=[second_path], now=dt.datetime(2023, 10, 7, 9, 0)).outcomes[0]

    assert bool(_version(settings, second.submission_id)["is_current"])
    assert _version(settings, first.submission_id)["superseded_by"] == second.submission_id


# --- robustness found while testing ------------------------------------------------


def test_a_return_that_breaks_validation_does_not_stop_the_run(tmp_path):
    landing = tmp_path / "landing"
    tables = titled_placements()
    write_xlsx(tables, landing / "a-titled.xlsx")
    write_return(good_tables(), landing / "b-good.xlsx", "xlsx")
    settings = settings_for(landing, tmp_path / "data")

    summary = ingest_landing(settings)

    assert sorted((o.source, o.status) for o in summary.outcomes) == [("a-titled.xlsx", "rejected"), ("b-good.xlsx", "accepted")]


def test_returns_beside_a_folder_of_csv_files_are_not_lost(tmp_path):
    landing = tmp_path / "landing"
    write_return(good_tables(), landing / "trafford", "folder")  # September's CSVs directly in trafford/
    write_return(good_tables(period="2023-08", submitted_at="2023-09-04 10:00:00"), landing / "trafford" / "2023-08.xlsx", "xlsx")
    (landing / "trafford" / "covering-letter.pdf").write_bytes(b"%PDF-1.7\n%%EOF\n")
    settings = settings_for(landing, tmp_path / "data")

    summary = ingest_landing(settings)

    assert sorted((o.source, o.status) for o in summary.outcomes) == [
        ("trafford", "accepted"),
        ("trafford/2023-08.xlsx", "accepted"),
    ]
    assert [i.path.name for i in summary.ignored] == ["covering-letter.pdf"]


# --- batches -------------------------------------------------------------------------


def test_one_batch_one_transaction_keeps_each_return_whole(tmp_path):
    """A batch holding an accepted return, a rejected one and a later resubmission of the first is
    stored in one transaction: the rejected return has a ledger row and findings but no table rows,
    and the resubmission is current for its LA and month."""
    from orchestration import ingest

    landing = tmp_path / "landing"
    first = write_return(good_tables(submitted_at="2023-10-05 10:00:00"), landing / "a-first.xlsx", "xlsx")
    broken = write_case("missing_column", landing / "b", "xlsx")
    corrected = write_return(good_tables(submitted_at="2023-10-20 09:30:00"), landing / "c-corrected.xlsx", "xlsx")
    settings = settings_for(landing, tmp_path / "data")
    batch = [(p, sha256(p)) for p in (first, broken, corrected)]
    prepared = ingest.prepare_many(batch, settings, dt.datetime(2023, 10, 21))
    with warehouse.connect(settings.warehouse) as con:
        warehouse.ensure_schema(con)
        ingest._store(con, prepared)

    assert [p.outcome.status for p in prepared] == ["accepted", "rejected", "accepted"]
    rows = ledger(settings).set_index("submission_id")
    assert rows.loc[sha256(corrected), "is_current"] and not rows.loc[sha256(first), "is_current"]
    assert rows.loc[sha256(first), "superseded_by"] == sha256(corrected)
    stored = query(settings, "SELECT submission_id, count(*) AS n FROM raw.placements GROUP BY 1").set_index("submission_id")["n"]
    assert stored.to_dict() == {sha256(first): 4, sha256(corrected): 4}
    assert query(settings, "SELECT count(*) AS n FROM ops.findings WHERE submission_id = ?", [sha256(broken)])["n"][0] > 0


def test_a_batch_that_cannot_be_checked_together_is_checked_return_by_return(tmp_path, monkeypatch, caplog):
    from orchestration import ingest

    landing = tmp_path / "landing"
    good = write_return(good_tables(), landing / "a-good.xlsx", "xlsx")
    broken = write_case("missing_column", landing / "b", "xlsx")
    settings = settings_for(landing, tmp_path / "data")
    together = ingest.validate_batch

    def fails_on_batches(returns, **kwargs):
        if len(returns) > 1:
            raise RuntimeError("a fault that only a batch meets")
        return together(returns, **kwargs)

    monkeypatch.setattr(ingest, "validate_batch", fails_on_batches)
    with caplog.at_level(logging.WARNING, logger="orchestration.ingest"):
        prepared = ingest._prepare_batch(([(good, sha256(good)), (broken, sha256(broken))], settings, dt.datetime(2023, 10, 21)))

    assert [p.outcome.status for p in prepared] == ["accepted", "rejected"]
    assert "checking them one by one" in caplog.text
    assert prepared[0].tables["placements"]["submission_id"].eq(sha256(good)).all()


def test_batches_share_the_work_between_workers():
    from orchestration.ingest import BATCH_RETURNS, _batches

    todo = list(range(1000))
    batches = _batches(todo, workers=2)
    assert [x for b in batches for x in b] == todo  # every return once, in landing order
    assert max(map(len, batches)) == BATCH_RETURNS
    assert len(_batches(list(range(16)), workers=2)) == 8  # a small landing still gives each worker several


def test_a_batch_of_accepted_returns_is_stored_as_pseudonymisation_stacked_it(tmp_path):
    """Each return's tables are runs of the batch's stacked rows, never cut out on the way to the
    insert; a part of the batch (stored return by return) or a table changed since gives each
    return's own rows instead."""
    from orchestration import ingest

    landing = tmp_path / "landing"
    paths = [write_return(good_tables(), landing / f"{n}.xlsx", "xlsx") for n in ("a", "b", "c")]
    settings = settings_for(landing, tmp_path / "data")
    prepared = ingest.prepare_many([(p, sha256(p)) for p in paths], settings, dt.datetime(2023, 10, 21))
    tables = [p.tables for p in prepared]

    assert all("placements" in t and t.uncut("placements") for t in tables)  # asking is not reading
    whole = ingest._batch_rows(tables, "placements")
    assert whole is tables[0].uncut("placements")[0]  # the stacked frame itself: nothing copied
    assert whole["submission_id"].tolist() == [sha256(p) for p in paths for _ in range(tables[0].rows("placements"))]

    part = ingest._batch_rows(tables[1:], "placements")
    assert part["submission_id"].tolist() == [sha256(p) for p in paths[1:] for _ in range(tables[1].rows("placements"))]

    tables[2]["placements"].loc[0, "weekly_cost"] = 1.0  # read, so cut out, and changed
    assert tables[2].uncut("placements") is None
    changed = ingest._batch_rows(tables, "placements")
    assert changed is not whole and changed["weekly_cost"].tolist().count(1.0) == 1 + whole["weekly_cost"].tolist().count(1.0)
