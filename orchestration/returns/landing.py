"""Find the returns in a landing folder, fingerprint them, and keep a copy of each.

A return is every XLSX file, every ZIP file and every folder that directly
holds CSV files; other folders are walked into. Anything else is reported and
left alone. A return's identity in the ledger is the SHA-256 of its bytes (of
its CSV files' names and bytes, for a folder), so the same file twice is seen
once and an edited file is a new return.

The landing folder is a boundary: other organisations write into it, and
nothing outside it is ever read or archived. So a symbolic link anywhere under
it, to a file or to a folder, is reported and never followed; a folder's CSV
files are its regular (never linked) CSV files, the same set for discovery,
checksum, archive and reading (`csv_members`); and files are opened with
O_NOFOLLOW, so one swapped for a link after discovery is refused, not read.
Hard links and mount points are treated as what they look like, a file and a
folder (docs/decisions.md, "Landing folder boundary").
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

RETURN_SUFFIXES = {".xlsx": "xlsx", ".xlsm": "xlsx", ".zip": "zip"}

LINK_REASON = (
    "a symbolic link: links are never followed, so nothing outside the landing folder is read; "
    "copy the file itself into the landing folder"
)
NOT_REGULAR_REASON = "not a regular file or folder (a device, pipe or socket): ignored"
UNREADABLE_FOLDER_REASON = "a folder that could not be listed (check its permissions): ignored"

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True)
class Ignored:
    path: Path
    reason: str


def _is_member_csv(entry: os.DirEntry) -> bool:
    return (
        entry.name.lower().endswith(".csv")
        and not entry.name.startswith(".")
        and entry.is_file(follow_symlinks=False)  # a regular file: False for a link, a pipe or a device
    )


def csv_member_entries(folder: Path) -> list[os.DirEntry]:
    """`csv_members` as directory entries, whose stat is one system call (the landing stamps take them)."""
    with os.scandir(folder) as entries:
        return sorted((e for e in entries if _is_member_csv(e)), key=lambda e: e.name)


def csv_members(folder: Path) -> list[Path]:
    """A CSV-folder return's own CSV files, by name: regular files only (never a link), not hidden.

    Discovery, checksum, archive, the folder reader and the landing stamps all take this one set.
    """
    folder = Path(folder)
    return [folder / e.name for e in csv_member_entries(folder)]


def open_no_follow(path: Path) -> BinaryIO:
    """Open a file for reading; a symbolic link (as the last part of the path) or a non-regular file is refused with OSError."""
    fd = os.open(path, _OPEN_FLAGS)  # O_NONBLOCK: a pipe put in a file's place cannot hang the open
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _refuse_link(path: Path) -> None:
    if Path(path).is_symlink():
        raise OSError(errno.ELOOP, "a symbolic link is never followed", str(path))


def _holds_csv(folder: Path) -> bool:
    try:
        return bool(csv_members(folder))
    except OSError:
        return False


def _walk(top: Path, top_is_return: bool) -> tuple[list[Path], list[Ignored]]:
    """Every return under `top` and what was passed over; `top` itself is a CSV-folder return only if told so."""
    returns: list[Path] = []
    ignored: list[Ignored] = []
    stack = [top]  # depth first, folders in name order; a stack, so no nesting depth exhausts the recursion limit
    while stack:
        here = stack.pop()
        try:
            with os.scandir(here) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError:
            if here != top:  # a landing folder that is not there yet holds nothing
                ignored.append(Ignored(here, UNREADABLE_FOLDER_REASON))
            continue
        csv_folder = top_is_return if here == top else any(_is_member_csv(e) for e in entries)
        if csv_folder:
            returns.append(here)  # its CSV files are one return; anything else beside them is looked at too
        subfolders = []
        for entry in entries:
            name = entry.name
            path = here / name
            suffix = path.suffix.lower()
            if name.startswith("."):
                continue
            if entry.is_symlink():
                ignored.append(Ignored(path, LINK_REASON))
            elif entry.is_dir(follow_symlinks=False):
                subfolders.append(path)  # a mount point too: only an operator can make one (decisions.md)
            elif not entry.is_file(follow_symlinks=False):
                ignored.append(Ignored(path, NOT_REGULAR_REASON))
            elif name.startswith("~$"):
                ignored.append(Ignored(path, "an Excel lock file (the workbook is open somewhere): ignored"))
            elif suffix in RETURN_SUFFIXES:
                returns.append(path)
            elif suffix == ".xls":
                ignored.append(Ignored(path, "an old-format Excel file (.xls): save it as .xlsx to submit it"))
            elif suffix == ".csv" and csv_folder:
                continue
            elif suffix == ".csv":
                ignored.append(Ignored(path, "a CSV file on its own: put a return's CSV files in a folder of their own"))
            else:
                ignored.append(Ignored(path, "not a return (not .xlsx, .zip or a folder of CSV files): ignored"))
        stack.extend(reversed(subfolders))
    return sorted(returns), ignored


def discover(landing: Path) -> tuple[list[Path], list[Ignored]]:
    """Every return under `landing` (sorted, for a stable order) and what was passed over.

    The landing folder itself is never a CSV-folder return: loose CSV files in it are reported.
    """
    return _walk(Path(landing), top_is_return=False)


def returns_under(path: Path) -> tuple[list[Path], list[Ignored]]:
    """The returns a path names, for `fostering validate`.

    A file is that one return, as given (even if it does not exist: the caller
    says so). A folder is walked as a landing folder is, except that a folder
    which directly holds CSV files and holds no other return (no workbook, ZIP
    or CSV sub-folder, at any depth) is itself one CSV-folder return.
    """
    path = Path(path)
    if not path.is_dir():
        return [path], []
    returns, ignored = _walk(path, top_is_return=False)
    if not returns and _holds_csv(path):
        return _walk(path, top_is_return=True)
    return returns, ignored


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open_no_follow(path) as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checksum(path: Path) -> str:
    """SHA-256 of a file, or of a folder's CSV files' names and digests; a symbolic link is refused (OSError)."""
    _refuse_link(path)
    if path.is_dir():
        digest = hashlib.sha256()
        for member in csv_members(path):
            digest.update(f"{member.name}\t{_file_digest(member)}\n".encode())
        return digest.hexdigest()
    return _file_digest(path)


def _copy_no_follow(source: Path, target: Path) -> None:
    """Copy one regular file's bytes, mode and times (as shutil.copy2 does), never through a link."""
    with open_no_follow(source) as src, open(target, "xb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
        info = os.fstat(src.fileno())
    os.chmod(target, stat.S_IMODE(info.st_mode))
    os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))


def archive(path: Path, digest: str, archive_dir: Path) -> Path:
    """Copy the return, as received, to archive/<sha256>/<its name>; idempotent.

    A folder's copy holds only its CSV files (`csv_members`), the ones its checksum and reading take;
    a symbolic link is refused (OSError), never copied or followed.
    """
    _refuse_link(path)
    target = archive_dir / digest / path.name
    if target.exists():
        return target
    staging = archive_dir / digest / f".{path.name}.partial"
    if staging.exists():
        shutil.rmtree(staging) if staging.is_dir() else staging.unlink()
    staging.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir():
        staging.mkdir()
        for member in csv_members(path):
            _copy_no_follow(member, staging / member.name)
    else:
        _copy_no_follow(path, staging)
    staging.rename(target)
    return target
