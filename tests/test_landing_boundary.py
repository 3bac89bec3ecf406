"""The landing folder is a boundary: nothing outside it is read, checksummed or archived.

Symbolic links under it (to a return, to a folder, as a CSV file of a folder
return) are reported and never followed; a file swapped for a link after
discovery is refused when read; a hard link is a file and a mount point a
folder (docs/decisions.md, "Landing folder boundary"). `returns_under` is what
`fostering validate PATH` checks.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from orchestration.ingest import ingest_landing
from orchestration.returns import landing as landing_module
from orchestration.returns.landing import archive, checksum, csv_members, discover, open_no_follow, returns_under
from orchestration.returns.readers import read_return
from orchestration.returns.writers import write_return
from tests.fixtures.returns import good_tables

LIMIT = 50_000_000


def ignored_by_name(ignored) -> dict[str, str]:
    return {i.path.name: i.reason for i in ignored}


def every_file(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() or p.is_symlink()]


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    return folder


# --- symbolic links ----------------------------------------------------------------


@pytest.mark.parametrize("form", ["xlsx", "zip"])
def test_a_link_to_a_return_outside_is_ignored_with_a_reason_and_not_returned(landing, outside, form):
    target = write_return(good_tables(), outside / f"elsewhere.{form}", form)
    (landing / "trafford").mkdir()
    (landing / "trafford" / f"2023-09.{form}").symlink_to(target)

    returns, ignored = discover(landing)

    assert returns == []
    reason = ignored_by_name(ignored)[f"2023-09.{form}"]
    assert "symbolic link" in reason and "never followed" in reason


def test_a_linked_folder_is_ignored_and_not_walked(landing, outside):
    write_return(good_tables(), outside / "returns" / "2023-09", "folder")
    write_return(good_tables(period="2023-08"), outside / "returns" / "2023-08.xlsx", "xlsx")
    (landing / "trafford").mkdir()
    (landing / "trafford" / "shared").symlink_to(outside / "returns", target_is_directory=True)
    good = write_return(good_tables(), landing / "trafford" / "2023-07.zip", "zip")

    returns, ignored = discover(landing)

    assert returns == [good]
    assert "symbolic link" in ignored_by_name(ignored)["shared"]


def test_a_linked_csv_of_a_folder_return_is_not_read_checksummed_or_archived(landing, outside, tmp_path):
    folder = write_return(good_tables(), landing / "trafford" / "2023-09", "folder")
    (folder / "households.csv").rename(outside / "households.csv")
    (folder / "households.csv").symlink_to(outside / "households.csv")
    without = tmp_path / "without" / "2023-09"
    shutil.copytree(folder, without, ignore=shutil.ignore_patterns("households.csv"))

    returns, ignored = discover(landing)
    assert returns == [folder]
    assert "symbolic link" in ignored_by_name(ignored)["households.csv"]

    assert "households.csv" not in [p.name for p in csv_members(folder)]
    assert "households" not in read_return(folder, LIMIT).sheets

    digest = checksum(folder)
    assert digest == checksum(without)

    kept = archive(folder, digest, tmp_path / "archive")
    assert sorted(p.name for p in kept.iterdir()) == sorted(p.name for p in without.iterdir())
    assert not any(p.is_symlink() for p in kept.iterdir())


def test_a_folder_whose_csv_files_are_all_links_is_not_a_return(landing, outside):
    source = write_return(good_tables(), outside / "2023-09", "folder")
    folder = landing / "trafford" / "2023-09"
    folder.mkdir(parents=True)
    for member in source.iterdir():
        (folder / member.name).symlink_to(member)

    returns, ignored = discover(landing)

    assert returns == []
    assert set(ignored_by_name(ignored)) == {p.name for p in source.iterdir()}
    assert all("symbolic link" in i.reason for i in ignored)
    assert returns_under(folder)[0] == []


def test_a_pipe_or_other_non_regular_file_is_ignored_not_opened(landing):
    os.mkfifo(landing / "trafford-2023-09.xlsx")  # reading a pipe would hang the run

    returns, ignored = discover(landing)

    assert returns == []
    assert "not a regular file" in ignored_by_name(ignored)["trafford-2023-09.xlsx"]


# --- a file swapped for a link after discovery -------------------------------------------------


def test_a_csv_file_swapped_for_a_link_after_listing_is_refused_as_unreadable(landing, outside, monkeypatch):
    folder = write_return(good_tables(), landing / "trafford" / "2023-09", "folder")
    (outside / "households.csv").write_bytes((folder / "households.csv").read_bytes())
    listed = landing_module.csv_members

    def listed_then_swapped(path):
        members = listed(path)
        (folder / "households.csv").unlink()
        (folder / "households.csv").symlink_to(outside / "households.csv")
        return members

    monkeypatch.setattr(landing_module, "csv_members", listed_then_swapped)
    result = read_return(folder, LIMIT)

    assert not result.readable
    assert list(result.findings.frame()["code"]) == ["FILE-UNREADABLE"]


def test_a_return_swapped_for_a_link_is_neither_checksummed_nor_archived(landing, outside, tmp_path):
    path = write_return(good_tables(), landing / "trafford-2023-09.xlsx", "xlsx")
    digest = checksum(path)
    target = outside / "elsewhere.xlsx"
    path.rename(target)
    path.symlink_to(target)

    with pytest.raises(OSError):
        open_no_follow(path)
    with pytest.raises(OSError):
        checksum(path)
    with pytest.raises(OSError):
        archive(path, digest, tmp_path / "archive")
    assert not (tmp_path / "archive" / digest / path.name).exists()


# --- hard links and mount points -------------------------------------------------------------


def test_a_hard_link_is_read_like_any_file(landing, outside):
    source = write_return(good_tables(), outside / "2023-09", "folder")
    folder = landing / "trafford" / "2023-09"
    folder.mkdir(parents=True)
    for member in source.iterdir():
        os.link(member, folder / member.name)
    workbook = write_return(good_tables(period="2023-08"), outside / "2023-08.xlsx", "xlsx")
    os.link(workbook, landing / "trafford" / "2023-08.xlsx")

    returns, ignored = discover(landing)

    assert returns == [landing / "trafford" / "2023-08.xlsx", folder]
    assert ignored == []
    assert [p.name for p in csv_members(folder)] == sorted(p.name for p in source.iterdir())
    assert checksum(folder) == checksum(source)
    assert read_return(folder, LIMIT).sheets.keys() == read_return(source, LIMIT).sheets.keys()
    assert read_return(landing / "trafford" / "2023-08.xlsx", LIMIT).readable


def _permission_refused(message: str) -> bool:
    message = message.lower()
    return any(words in message for words in ("permission denied", "not permitted", "only root", "must be superuser"))


def _is_mount_point(path: Path) -> bool:
    lines = Path("/proc/self/mountinfo").read_text().splitlines()
    return str(path.resolve()) in {line.split()[4].replace("\\040", " ") for line in lines}


def test_a_mount_point_is_walked_like_a_folder_and_links_in_it_are_still_not_followed(landing, outside, tmp_path):
    mounted = tmp_path / "mounted-share"
    workbook = write_return(good_tables(), mounted / "2023-09.xlsx", "xlsx")
    (mounted / "elsewhere.zip").symlink_to(write_return(good_tables(), outside / "elsewhere.zip", "zip"))
    point = landing / "share"
    point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mount --bind needs root")
    done = subprocess.run(["mount", "--bind", str(mounted), str(point)], capture_output=True, text=True)
    if done.returncode != 0 and _permission_refused(done.stderr):
        pytest.skip(f"mount --bind refused: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    try:
        assert _is_mount_point(point)  # os.path.ismount misses a bind mount within one file system
        returns, ignored = discover(landing)
        assert returns == [point / workbook.name]
        assert "symbolic link" in ignored_by_name(ignored)["elsewhere.zip"]
    finally:
        subprocess.run(["umount", str(point)], check=True)


# --- returns_under: what `fostering validate PATH` checks ------------------------------------


def test_returns_under_a_file_is_that_file_as_given(tmp_path):
    workbook = write_return(good_tables(), tmp_path / "2023-09.xlsx", "xlsx")
    assert returns_under(workbook) == ([workbook], [])
    missing = tmp_path / "no-such-return.zip"
    assert returns_under(missing) == ([missing], [])


def test_returns_under_a_folder_of_workbooks_and_a_stray_csv(tmp_path):
    folder = tmp_path / "returns"
    a = write_return(good_tables(period="2023-08"), folder / "2023-08.xlsx", "xlsx")
    b = write_return(good_tables(), folder / "2023-09.zip", "zip")
    (folder / "foo.csv").write_text("a,b\n1,2\n", encoding="utf-8")

    returns, ignored = returns_under(folder)

    assert returns == [a, b]
    assert "a CSV file on its own" in ignored_by_name(ignored)["foo.csv"]


def test_returns_under_a_folder_that_is_itself_a_csv_return(tmp_path, outside):
    folder = write_return(good_tables(), tmp_path / "my-return-folder", "folder")
    (folder / "notes.txt").write_text("for September", encoding="utf-8")
    (folder / "extra.csv").symlink_to(outside / "extra.csv")

    returns, ignored = returns_under(folder)

    assert returns == [folder]
    reasons = ignored_by_name(ignored)
    assert set(reasons) == {"notes.txt", "extra.csv"}
    assert "symbolic link" in reasons["extra.csv"]
    # the landing folder itself is never a CSV return: the same files there are loose CSVs
    assert discover(folder)[0] == []


def test_returns_under_nested_folders(tmp_path):
    top = tmp_path / "returns"
    csv_return = write_return(good_tables(), top / "trafford" / "2023-09", "folder")
    deep_zip = write_return(good_tables(period="2023-08"), top / "trafford" / "old" / "2023-08.zip", "zip")
    (top / "stray.csv").write_text("a\n1\n", encoding="utf-8")

    returns, ignored = returns_under(top)

    assert returns == [csv_return, deep_zip]  # returns lie beneath top: it is not a CSV return itself
    assert "a CSV file on its own" in ignored_by_name(ignored)["stray.csv"]

    # a folder of CSVs with nothing but sub-folders holding no return is a CSV return
    own = write_return(good_tables(), tmp_path / "mine", "folder")
    (own / "notes" / "drafts").mkdir(parents=True)
    (own / "notes" / "drafts" / "letter.txt").write_text("draft", encoding="utf-8")
    returns, ignored = returns_under(own)
    assert returns == [own]
    assert "not a return" in ignored_by_name(ignored)["letter.txt"]


# --- ingest ----------------------------------------------------------------------------------


def test_ingest_takes_the_return_in_the_landing_folder_and_never_the_linked_one(landing, settings, good_return, outside):
    elsewhere = write_return(good_tables(period="2023-08", submitted_at="2023-09-04 10:00:00"), outside / "elsewhere.xlsx", "xlsx")
    (landing / "trafford" / "2023-08.xlsx").symlink_to(elsewhere)
    linked_folder = write_return(good_tables(period="2023-07", submitted_at="2023-08-04 10:00:00"), outside / "2023-07", "folder")
    (landing / "trafford" / "2023-07").symlink_to(linked_folder, target_is_directory=True)

    summary = ingest_landing(settings)

    assert [(o.source, o.status) for o in summary.outcomes] == [("trafford/2023-09.zip", "accepted")]
    assert {"2023-08.xlsx", "2023-07"} <= set(ignored_by_name(summary.ignored))
    kept = every_file(settings.archive_dir)
    assert kept and not any(p.is_symlink() for p in kept)
    outside_bytes = {elsewhere.read_bytes(), *(p.read_bytes() for p in linked_folder.iterdir())}
    assert not [p for p in kept if p.read_bytes() in outside_bytes]
