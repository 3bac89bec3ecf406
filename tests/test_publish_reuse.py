"""The publish carries a mart whose content did not change: hard links of the latest version's files.

Each test publishes a small hand-made warehouse (`tests.test_publish.make_warehouse`, plus a
recruitment mart), changes or damages something, publishes again, and compares the result
with a publish of the same warehouse written from scratch into an empty folder.
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import json
import os
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from orchestration.publish import writer
from orchestration.publish.writer import publish, read_latest, versions
from orchestration.warehouse import connect
from tests.test_publish import THRESHOLD, make_warehouse

MARTS = ["mart_finance", "mart_recruitment", "mart_sufficiency"]
FORMS = ["parquet", "csv"]


def _warehouse(path: Path, small_count: int = 3) -> Path:
    make_warehouse(path, small_count)
    with connect(path) as con:
        con.execute(
            "CREATE TABLE marts.mart_recruitment (la_code VARCHAR, period DATE, carer_type VARCHAR, enquiries BIGINT, "
            "approvals BIGINT, r12_conversion_rate DOUBLE)"
        )
        con.execute(
            "INSERT INTO marts.mart_recruitment VALUES "
            "('E08000009', DATE '2022-03-01', 'mainstream', 12, 2, 0.25), "
            "('E08000009', DATE '2022-03-01', 'connected', 3, NULL, NULL)"
        )
    return path


@pytest.fixture
def tiny(tmp_path: Path):
    return _warehouse(tmp_path / "wh" / "warehouse.duckdb"), tmp_path / "published"


def _at(hour: int) -> dt.datetime:
    return dt.datetime(2024, 5, 1, hour, 0, 0, tzinfo=dt.timezone.utc)


def _publish(warehouse: Path, publish_dir: Path, hour: int, keep: int = 5, **kwargs):
    return publish(warehouse, publish_dir, keep=keep, threshold=THRESHOLD, now=_at(hour), **kwargs)


def _manifest(result) -> dict:
    return json.loads(result.manifest_path.read_text(encoding="utf-8"))


def _marts(result) -> dict[str, dict]:
    return {m["name"]: m for m in _manifest(result)["marts"]}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _change_finance(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse)) as con:
        con.execute("UPDATE marts.mart_finance SET actual = actual + 1")


def _same_as_from_scratch(result, warehouse: Path, scratch_dir: Path, hour: int) -> None:
    """`result` holds, byte for byte, what a publish of `warehouse` into an empty folder writes."""
    scratch = _publish(warehouse, scratch_dir, hour)
    assert scratch.carried == [] and scratch.version == result.version
    for name in MARTS:
        for form in FORMS:
            filename = f"{name}.{form}"
            assert (result.path / filename).read_bytes() == (scratch.path / filename).read_bytes(), filename
    ours, theirs = _manifest(result), _manifest(scratch)
    assert {m["name"]: m["files"] for m in ours["marts"]} == {m["name"]: m["files"] for m in theirs["marts"]}
    # the whole manifest is the same, but for which marts were carried
    for manifest in (ours, theirs):
        for mart in manifest["marts"]:
            mart.pop("carried_from")
    assert ours == theirs


def _complete(result) -> None:
    """Every file the manifest lists is there, matches it and reads."""
    manifest = _manifest(result)
    listed = {"manifest.json", manifest["dictionary_file"]["path"]}
    for mart in manifest["marts"]:
        for form, entry in mart["files"].items():
            path = result.path / entry["path"]
            listed.add(entry["path"])
            assert _sha256(path) == entry["sha256"] and path.stat().st_size == entry["bytes"], path
        frame = pd.read_parquet(result.path / f"{mart['name']}.parquet")
        text = pd.read_csv(result.path / f"{mart['name']}.csv", dtype=str, keep_default_na=False)
        assert len(frame) == len(text) == mart["rows"]
    assert {p.name for p in result.path.iterdir()} == listed


def test_unchanged_marts_are_hard_links_and_the_publish_equals_one_from_scratch(tiny, tmp_path):
    warehouse, publish_dir = tiny
    first = _publish(warehouse, publish_dir, 1)
    assert first.carried == []
    assert all(m["carried_from"] is None and len(m["content_sha256"]) == 64 for m in _marts(first).values())

    _change_finance(warehouse)
    second = _publish(warehouse, publish_dir, 2)
    assert second.carried == ["mart_recruitment", "mart_sufficiency"]
    before, after = _marts(first), _marts(second)
    for name in ("mart_recruitment", "mart_sufficiency"):
        assert after[name]["carried_from"] == first.version
        assert after[name]["content_sha256"] == before[name]["content_sha256"]
        assert after[name]["files"] == before[name]["files"]
        for form in FORMS:
            old, new = (first.path / f"{name}.{form}").stat(), (second.path / f"{name}.{form}").stat()
            assert new.st_ino == old.st_ino and new.st_dev == old.st_dev and new.st_nlink >= 2
    # the changed mart is written afresh
    assert after["mart_finance"]["carried_from"] is None
    assert after["mart_finance"]["content_sha256"] != before["mart_finance"]["content_sha256"]
    for form in FORMS:
        new = (second.path / f"mart_finance.{form}").stat()
        assert new.st_ino != (first.path / f"mart_finance.{form}").stat().st_ino and new.st_nlink == 1
    assert after["mart_finance"]["files"]["csv"]["sha256"] != before["mart_finance"]["files"]["csv"]["sha256"]

    _same_as_from_scratch(second, warehouse, tmp_path / "scratch", 2)
    _complete(second)
    _complete(first)

    # a third publish carries every mart, now from the second version
    third = _publish(warehouse, publish_dir, 3)
    assert third.carried == MARTS
    assert {m["carried_from"] for m in _marts(third).values()} == {second.version}
    assert (third.path / "mart_sufficiency.csv").stat().st_nlink == 3
    _complete(third)


def test_nothing_new_to_publish_leaves_no_extra_links(tiny):
    warehouse, publish_dir = tiny
    first = _publish(warehouse, publish_dir, 1, skip_unchanged=True)
    again = _publish(warehouse, publish_dir, 2, skip_unchanged=True)
    assert again.unchanged and again.version == first.version
    assert all((first.path / f"{n}.{f}").stat().st_nlink == 1 for n in MARTS for f in FORMS)


def test_a_withheld_count_is_not_in_the_content_digest(tmp_path):
    """The manifest publishes the digest: a withheld count must not change it (else 1 to 5 could be tried)."""
    published = {}
    for small in (1, 3, 4):
        warehouse = _warehouse(tmp_path / f"wh{small}" / "warehouse.duckdb", small_count=small)
        result = _publish(warehouse, tmp_path / f"published{small}", 1)
        assert result.withheld["mart_sufficiency"] == 2
        published[small] = _marts(result)["mart_sufficiency"]
    assert published[1] == published[3] == published[4]
    # and a count that is published is in it
    shown = _publish(_warehouse(tmp_path / "wh6" / "warehouse.duckdb", small_count=6), tmp_path / "published6", 1)
    assert _marts(shown)["mart_sufficiency"]["content_sha256"] != published[3]["content_sha256"]


@pytest.mark.parametrize("damage", ["edited", "truncated", "removed", "a symlink", "manifest edited"])
def test_a_previous_file_that_does_not_match_its_manifest_is_not_carried(tiny, tmp_path, damage):
    warehouse, publish_dir = tiny
    first = _publish(warehouse, publish_dir, 1)
    damaged = first.path / "mart_sufficiency.csv"
    original = damaged.read_bytes()
    if damage == "edited":  # same size, one byte changed
        damaged.write_bytes(original.replace(b"Trafford", b"Trafforc", 1))
    elif damage == "truncated":
        damaged.write_bytes(original[:-5])
    elif damage == "removed":
        damaged.unlink()
    elif damage == "a symlink":
        outside = tmp_path / "outside.csv"
        outside.write_bytes(original)  # even with the right bytes, a link out of the version is not carried
        damaged.unlink()
        damaged.symlink_to(outside)
    else:  # the manifest says other bytes than the file has
        manifest = _manifest(first)
        for mart in manifest["marts"]:
            if mart["name"] == "mart_sufficiency":
                mart["files"]["csv"]["sha256"] = "0" * 64
        first.manifest_path.write_text(json.dumps(manifest), encoding="utf-8")

    second = _publish(warehouse, publish_dir, 2)
    assert second.carried == ["mart_finance", "mart_recruitment"]  # mart_sufficiency is written from scratch
    assert _marts(second)["mart_sufficiency"]["carried_from"] is None
    for form in FORMS:  # both of its files, not only the damaged one
        new = second.path / f"mart_sufficiency.{form}"
        assert not new.is_symlink() and new.stat().st_nlink == 1
    assert (second.path / "mart_sufficiency.csv").read_bytes() == original
    _same_as_from_scratch(second, warehouse, tmp_path / "scratch", 2)
    _complete(second)


def test_pruning_the_old_version_leaves_the_new_one_complete(tiny, tmp_path):
    warehouse, publish_dir = tiny
    first = _publish(warehouse, publish_dir, 1)
    _change_finance(warehouse)
    second = _publish(warehouse, publish_dir, 2, keep=0)
    assert second.carried == ["mart_recruitment", "mart_sufficiency"]
    assert versions(publish_dir) == [second.version] and not first.path.exists()
    assert read_latest(publish_dir) == second.path
    assert all((second.path / f"{n}.{f}").stat().st_nlink == 1 for n in MARTS for f in FORMS)
    _complete(second)
    _same_as_from_scratch(second, warehouse, tmp_path / "scratch", 2)


def test_where_linking_fails_the_files_are_copied(tiny, tmp_path, monkeypatch):
    warehouse, publish_dir = tiny
    first = _publish(warehouse, publish_dir, 1)
    _change_finance(warehouse)
    tried = []

    def no_links(source, target, *args, **kwargs):
        tried.append(Path(target).name)
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(writer.os, "link", no_links)
    second = _publish(warehouse, publish_dir, 2)
    assert sorted(tried) == sorted(f"{n}.{f}" for n in ("mart_recruitment", "mart_sufficiency") for f in FORMS)
    assert second.carried == ["mart_recruitment", "mart_sufficiency"]
    for name in ("mart_recruitment", "mart_sufficiency"):
        assert _marts(second)[name]["carried_from"] == first.version
        for form in FORMS:
            old, new = first.path / f"{name}.{form}", second.path / f"{name}.{form}"
            assert new.read_bytes() == old.read_bytes()
            assert new.stat().st_ino != old.stat().st_ino and new.stat().st_nlink == 1
    _same_as_from_scratch(second, warehouse, tmp_path / "scratch", 2)


def test_carried_files_are_counted_for_the_test_only_pause(tiny, monkeypatch):
    """`FOSTERING_PUBLISH_PAUSE_AFTER_FILES` counts every file placed in staging, carried or written."""
    warehouse, publish_dir = tiny
    _publish(warehouse, publish_dir, 1)
    _change_finance(warehouse)
    placed, real = [], writer._FileCounter.wrote

    def wrote(self, path):
        placed.append((path.parent.name, path.name))
        real(self, path)

    monkeypatch.setattr(writer._FileCounter, "wrote", wrote)
    second = _publish(warehouse, publish_dir, 2)
    staging = f"{writer.STAGING_PREFIX}{second.version}"
    assert placed == [(staging, f"{n}.{f}") for n in MARTS for f in FORMS] + [(staging, "data_dictionary.csv"), (staging, "manifest.json")]


def test_a_publish_that_fails_after_carrying_leaves_the_latest_whole(tiny, monkeypatch):
    warehouse, publish_dir = tiny
    first = _publish(warehouse, publish_dir, 1)
    files = {p.name: _sha256(p) for p in first.path.iterdir()}
    with duckdb.connect(str(warehouse)) as con:  # the last mart: the two before it are carried, then it fails
        con.execute("UPDATE marts.mart_sufficiency SET approved_households = approved_households + 1")
    carried, real = [], writer._carry

    def carry(name, *args):
        files = real(name, *args)
        if files is not None:
            carried.append(name)
        return files

    monkeypatch.setattr(writer, "_carry", carry)

    def full(frame, schema, path):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(writer, "_write_csv", full)
    with pytest.raises(OSError, match="No space left"):
        _publish(warehouse, publish_dir, 2)
    assert carried == ["mart_finance", "mart_recruitment"]
    assert read_latest(publish_dir) == first.path and versions(publish_dir) == [first.version]
    assert not [p for p in publish_dir.iterdir() if p.name.startswith(writer.STAGING_PREFIX)]
    assert {p.name: _sha256(p) for p in first.path.iterdir()} == files
    assert all((first.path / f"{n}.{f}").stat().st_nlink == 1 for n in MARTS for f in FORMS)
