"""Errors said in one plain sentence, and the exit status each one ends a command with.

A `PlainError` is raised where the problem is understood, with the sentence an
operator can act on; the command line prints it and exits with its
`exit_status`, never a traceback. An OSError is turned into such a sentence
here too: which configured folder it concerns and which setting to change.
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestration.settings import Settings


class PlainError(RuntimeError):
    """A failure whose message already says what happened and what to change."""

    exit_status = 3  # 2 for usage, settings and could-not-start (see cli.EXIT_STATUS)


_PATH_SETTINGS = (  # (attribute, the setting, the command-line option if there is one)
    ("publish_dir", "FOSTERING_PUBLISH_DIR", "--publish-dir"),
    ("warehouse", "FOSTERING_WAREHOUSE", "--warehouse"),
    ("landing", "FOSTERING_LANDING", "--landing"),
    ("reference_dir", "FOSTERING_REFERENCE_DIR", None),
    ("contracts_dir", "FOSTERING_CONTRACTS_DIR", None),
    ("expectations_dir", "FOSTERING_EXPECTATIONS_DIR", None),
    ("data_dir", "FOSTERING_DATA_DIR", None),
)


_READ_ONLY = {"FOSTERING_LANDING", "FOSTERING_REFERENCE_DIR", "FOSTERING_CONTRACTS_DIR", "FOSTERING_EXPECTATIONS_DIR"}


def setting_for(path: str | os.PathLike, settings: Settings | None) -> tuple[Path, str | None]:
    """The configured folder (or file) a path lies in, and the setting that places it (None if none does)."""
    path = Path(os.path.abspath(os.path.expanduser(os.fspath(path))))
    if settings is not None:
        for attribute, name, option in _PATH_SETTINGS:
            place = getattr(settings, attribute)
            if attribute == "warehouse":  # the file itself, or its lock and WAL files beside it
                inside = path.parent == place.parent and path.name.startswith(place.name)
            else:
                inside = path == place or place in path.parents
            if inside:
                return place, f"{name} (or {option})" if option else name
    return path, None


def describe_os_error(code: int | None, reason: str, filename: str | None, settings: Settings | None = None) -> str:
    """One sentence: what could not be done where, and what to change."""
    if not filename:
        if code == errno.ENOSPC:
            return "a disk it writes to is full; free some space, or set FOSTERING_DATA_DIR and FOSTERING_PUBLISH_DIR to another disk"
        return f"the operating system refused: {reason.lower()}"
    place, setting = setting_for(filename, settings)
    change = f"set {setting} to another folder" if setting else "choose another path"
    if code == errno.ENOSPC or code == getattr(errno, "EDQUOT", -1):
        return f"the disk holding {place} is full; free some space or {change}"
    if code == errno.ENOENT:
        return f"{filename} does not exist; create it or {change}"
    if code in (errno.EEXIST, errno.ENOTDIR):
        return f"cannot write to {place}: a file stands where a folder of its path should be; move the file or {change}"
    read_only = setting is not None and setting.split()[0] in _READ_ONLY
    verb, able = ("read", "readable") if read_only else ("write to", "writable")
    return f"cannot {verb} {place}: {reason.lower()}; make it {able} or {change}"


_ERRNO_MESSAGE = re.compile(r"\[Errno (\d+)\] ([^:]+): '([^']*)'")


def describe_os_error_text(text: str, settings: Settings | None = None) -> str | None:
    """The same sentence from an OSError's text ("[Errno 13] Permission denied: '/x'"), if it is one."""
    found = _ERRNO_MESSAGE.search(text)
    return describe_os_error(int(found[1]), found[2], found[3], settings) if found else None
