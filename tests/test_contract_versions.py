"""A new 1.x contract version is a data change: the validator and the warehouse follow the YAML."""

import duckdb

from orchestration.ingest import ingest_landing
from orchestration.returns.validate import validate_path
from orchestration.returns.writers import write_return
from tests.conftest import EXTRA_COLUMN
from tests.fixtures.returns import good_tables


def _v11_tables(**kwargs):
    tables = good_tables(**kwargs)
    tables["submission"]["return_version"] = "1.1"
    tables["placements"][EXTRA_COLUMN["name"]] = ["N", "Y", "N", "n"]
    return tables


def test_a_return_is_checked_against_the_version_it_names(contracts_with_v11, tmp_path):
    v11 = validate_path(write_return(_v11_tables(), tmp_path / "v11.zip", "zip"), max_expanded_bytes=10**8)
    assert (v11.contract.version, v11.status) == ("1.1", "accepted")
    assert v11.tables["placements"][EXTRA_COLUMN["name"]].tolist() == ["N", "Y", "N", "N"]

    # the same column in a 1.0 return is not part of that contract
    old = good_tables()
    old["placements"][EXTRA_COLUMN["name"]] = "N"
    v10 = validate_path(write_return(old, tmp_path / "v10.zip", "zip"), max_expanded_bytes=10**8)
    assert v10.contract.version == "1.0"
    assert v10.findings[["code", "severity", "value"]].values.tolist() == [["COLUMN-UNKNOWN", "warning", EXTRA_COLUMN["name"]]]

    bad = _v11_tables()
    bad["placements"][EXTRA_COLUMN["name"]] = ["N", "maybe", "N", "N"]
    rejected = validate_path(write_return(bad, tmp_path / "bad.zip", "zip"), max_expanded_bytes=10**8)
    assert rejected.findings[["code", "row", "column"]].values.tolist() == [["CELL-CODE-UNKNOWN", 3, EXTRA_COLUMN["name"]]]


def test_the_raw_table_gains_the_column_and_old_returns_keep_loading(contracts_with_v11, settings, landing):
    write_return(good_tables(period="2023-08", submitted_at="2023-09-04"), landing / "2023-08.zip", "zip")
    write_return(_v11_tables(), landing / "2023-09.zip", "zip")
    summary = ingest_landing(settings)
    assert [o.status for o in summary.outcomes] == ["accepted", "accepted"]
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        rows = con.execute(
            f"SELECT strftime(s.period, '%Y-%m'), count(p.{EXTRA_COLUMN['name']}) FROM raw.placements p "
            "JOIN ops.submissions s USING (submission_id) GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert rows == [("2023-08", 0), ("2023-09", 4)]


def test_a_warehouse_made_under_1_0_gains_the_new_column(settings, landing, request):
    write_return(good_tables(period="2023-08", submitted_at="2023-09-04"), landing / "2023-08.zip", "zip")
    ingest_landing(settings)  # raw tables created from contract 1.0 alone

    request.getfixturevalue("contracts_with_v11")
    write_return(_v11_tables(), landing / "2023-09.zip", "zip")
    summary = ingest_landing(settings)
    assert [o.status for o in summary.outcomes] == ["already_received", "accepted"]
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        assert con.execute(f"SELECT count({EXTRA_COLUMN['name']}) FROM raw.placements").fetchone() == (4,)
