"""Returns already received are recognised by their file stamps, not read again (decision S8).

A second run over an unchanged landing folder hashes no file; a new or changed
return is hashed and ingested; a return rewritten with its size and modification
time put back is still caught (its status-change time moved); a return changed
within the safety margin of its stamp is hashed again; a stamp never stands in
for a checksum that is not on the ledger; and a warehouse made before
`ops.landing_files` existed gets it.
"""

from __future__ import annotations

import hashlib
import os
import types
from pathlib import Path

import pytest

from orchestration import ingest, landing_stamps
from orchestration.ingest import ingest_landing
from orchestration.returns import landing as landing_module
from orchestration.returns.writers import write_return
from orchestration.settings import ConfigurationError, load_settings
from orchestration.warehouse import connect
from tests.fixtures.broken import write_case
from tests.fixtures.returns import good_tables


@pytest.fixture(autouse=True)
def one_batch(monkeypatch):
    """Each run's new returns checked as one batch in this process: worker processes would only slow these tests."""
    monkeypatch.setattr(ingest, "_batches", lambda todo, workers=None: [todo] if todo else [])


@pytest.fixture
def hashed(monkeypatch, landing) -> list[str]:
    """The returns (relative to the landing folder) whose files are read to hash them, one entry per file."""
    calls: list[str] = []
    digest = landing_module._file_digest

    def counted(path: Path) -> str:
        calls.append(_name(Path(path).relative_to(landing)))
        return digest(path)

    monkeypatch.setattr(landing_module, "_file_digest", counted)
    return calls


@pytest.fixture
def no_margin(monkeypatch):
    """Trust a stamp as soon as it is recorded: these tests write their files a moment before the run."""
    monkeypatch.setattr(landing_stamps, "MARGIN_NS", 0)


def _name(source) -> str:
    """A return's name in these tests: the first part of its path under the landing folder, without suffix."""
    return Path(source).parts[0].split(".")[0]


def _write(landing: Path, name: str, form: str, day: int = 5) -> Path:
    path = landing / (name if form == "folder" else f"{name}.{form}")
    return write_return(good_tables(submitted_at=f"2023-10-{day:02d} 10:00:00"), path, form)


def _returns(landing: Path) -> dict[str, Path]:
    return {
        "a": _write(landing, "a", "xlsx"),
        "b": _write(landing, "b", "zip", day=6),
        "c": _write(landing, "c", "folder", day=7),
        "d": write_case("places_sum", landing, "xlsx").rename(landing / "d.xlsx"),  # rejected: on the ledger all the same
    }


def _ids(summary) -> dict[str, tuple[str, str]]:
    return {_name(o.source): (o.status, o.submission_id) for o in summary.outcomes}


def _records(settings) -> dict[str, str]:
    with connect(settings.warehouse, read_only=True) as con:
        return dict(con.execute("SELECT source_path, submission_id FROM ops.landing_files").fetchall())


def _ledger_ids(settings) -> set[str]:
    with connect(settings.warehouse, read_only=True) as con:
        return {sid for (sid,) in con.execute("SELECT submission_id FROM ops.submissions").fetchall()}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_second_run_over_an_unchanged_landing_folder_reads_no_file(settings, landing, hashed, no_margin):
    returns = _returns(landing)
    first = ingest_landing(settings)
    assert sorted(s for s, _ in _ids(first).values()) == ["accepted", "accepted", "accepted", "rejected"]
    assert sorted(set(hashed)) == sorted(returns)  # the first run hashed them all
    hashed.clear()

    second = ingest_landing(settings)

    assert hashed == []
    assert _ids(second) == {name: ("already_received", sid) for name, (_, sid) in _ids(first).items()}
    assert _records(settings) == {o.source: o.submission_id for o in first.outcomes}


def test_a_new_return_and_a_changed_one_are_hashed_and_ingested(settings, landing, hashed, no_margin):
    returns = _returns(landing)
    first = _ids(ingest_landing(settings))
    hashed.clear()
    _write(landing, "e", "zip", day=8)  # new
    returns["a"].write_bytes(returns["a"].read_bytes() + b"\0")  # changed: its size and mtime differ
    members = landing_module.csv_members(returns["c"])
    (returns["c"] / "finance.csv").write_bytes((returns["c"] / "finance.csv").read_bytes() + b"\n")  # one CSV file changed

    second = _ids(ingest_landing(settings))

    assert sorted(set(hashed)) == ["a", "c", "e"]
    assert hashed.count("c") == len(members)  # a changed folder is hashed whole, as its checksum is
    assert second["e"][0] == "accepted"
    assert second["a"][0] != "already_received" and second["a"][1] == _sha256(returns["a"]) != first["a"][1]
    assert second["c"][0] == "accepted" and second["c"][1] != first["c"][1]
    assert second["b"] == ("already_received", first["b"][1]) and second["d"] == ("already_received", first["d"][1])
    assert _records(settings)["a.xlsx"] == _sha256(returns["a"])


@pytest.mark.parametrize("form", ["zip", "folder"])
def test_a_return_rewritten_with_its_old_size_and_modification_time_is_still_caught(settings, landing, hashed, no_margin, form):
    path = _write(landing, "r", form)
    changed = path / "submission.csv" if form == "folder" else path  # the file rewritten in place
    first = _ids(ingest_landing(settings))["r"]
    before = os.stat(changed)
    other = _write(landing.parent / "elsewhere", "r", form, day=6)  # the same return signed off a day later
    new_bytes = (other / "submission.csv" if form == "folder" else other).read_bytes()
    assert len(new_bytes) == before.st_size and new_bytes != changed.read_bytes()

    with open(changed, "r+b") as handle:  # same inode, same size
        handle.write(new_bytes)
    os.utime(changed, ns=(before.st_atime_ns, before.st_mtime_ns))  # `touch -d` back to the old time
    after = os.stat(changed)
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (before.st_size, before.st_mtime_ns, before.st_ino)
    hashed.clear()

    second = _ids(ingest_landing(settings))["r"]

    assert hashed  # caught by its status-change time, which nothing sets back
    assert second[0] == "accepted" and second[1] != first[1]
    assert second[1] == landing_module.checksum(path)
    assert _ledger_ids(settings) == {first[1], second[1]}


def test_a_return_seen_within_the_margin_of_its_last_change_is_hashed_again(settings, landing, hashed, monkeypatch):
    changed_ns = os.stat(_write(landing, "a", "zip")).st_ctime_ns

    def run_stamped_after(seconds: float):
        """Ingest with its clock `seconds` after the file's last change (only the stamps read that clock)."""
        monkeypatch.setattr(ingest, "time", types.SimpleNamespace(time_ns=lambda: changed_ns + int(seconds * 1e9)))
        hashed.clear()
        return _ids(ingest_landing(settings))["a"][0]

    assert landing_stamps.MARGIN_NS == 2_000_000_000
    assert run_stamped_after(1) == "accepted"
    assert run_stamped_after(1.9) == "already_received" and hashed == ["a"]  # seen 1 s after its change: not trusted
    assert run_stamped_after(2.5) == "already_received" and hashed == ["a"]  # seen 1.9 s after: not trusted either
    assert run_stamped_after(3) == "already_received" and hashed == []  # seen 2.5 s after: trusted


def test_a_stamp_never_stands_in_for_a_checksum_not_on_the_ledger(settings, landing, hashed, no_margin):
    path = _write(landing, "a", "zip")
    first = _ids(ingest_landing(settings))["a"]
    with connect(settings.warehouse) as con:  # an operator takes the return off the ledger to receive it again
        con.execute("DELETE FROM ops.submissions WHERE submission_id = ?", [first[1]])
    hashed.clear()

    again = _ids(ingest_landing(settings))["a"]

    assert hashed == ["a"]
    assert again == ("accepted", _sha256(path))


def test_a_warehouse_made_before_the_stamps_table_gets_it(settings, landing, hashed, no_margin):
    _returns(landing)
    first = _ids(ingest_landing(settings))
    with connect(settings.warehouse) as con:
        con.execute("DROP TABLE ops.landing_files")  # as every warehouse was before decision S8
    hashed.clear()

    second = _ids(ingest_landing(settings))  # no records: every return hashed once more, and recorded
    assert sorted(set(hashed)) == ["a", "b", "c", "d"]
    assert second == {name: ("already_received", sid) for name, (_, sid) in first.items()}
    hashed.clear()

    assert _ids(ingest_landing(settings)) == second
    assert hashed == []


def test_a_return_gone_from_the_landing_folder_is_forgotten_but_not_by_a_run_given_paths(settings, landing, hashed, no_margin):
    returns = _returns(landing)
    ingest_landing(settings)
    ingest_landing(settings, paths=[returns["a"]])
    assert set(_records(settings)) == {"a.xlsx", "b.zip", "c", "d.xlsx"}

    returns["b"].unlink()
    ingest_landing(settings)

    assert set(_records(settings)) == {"a.xlsx", "c", "d.xlsx"}


def test_rehash_landing_reads_every_file_again(tmp_path, landing, hashed, no_margin):
    env = {"FOSTERING_LANDING": str(landing), "FOSTERING_WAREHOUSE": str(tmp_path / "wh" / "warehouse.duckdb")}
    _returns(landing)
    ingest_landing(load_settings(env))
    hashed.clear()

    summary = ingest_landing(load_settings({**env, "FOSTERING_REHASH_LANDING": "1"}))

    assert sorted(set(hashed)) == ["a", "b", "c", "d"]
    assert {o.status for o in summary.outcomes} == {"already_received"}
    assert load_settings(env).rehash_landing is False
    with pytest.raises(ConfigurationError, match="FOSTERING_REHASH_LANDING must be 1 or 0"):
        load_settings({**env, "FOSTERING_REHASH_LANDING": "sometimes"})
