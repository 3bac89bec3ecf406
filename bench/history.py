"""Lay a history's returns into a landing folder for the pipeline stages, by reporting month.

Returns are hard-linked, not copied (a national history is over a gigabyte),
so the landing must be on the history's filesystem. A return's month is the
start of its name: `<la>/<YYYY-MM>/` (CSV folder), `<la>/<YYYY-MM>.xlsx|.zip`.
"""

from __future__ import annotations

import os
from pathlib import Path


def months(history: Path) -> list[str]:
    """Every reporting month the history holds, in order."""
    return sorted({_month(p) for la in _las(history) for p in la.iterdir()})


def link(history: Path, landing: Path, *, until: str | None = None, only: str | None = None) -> int:
    """Hard-link the returns of months up to `until` (or of the month `only`) into `landing`; how many returns."""
    linked = 0
    for la in _las(history):
        for item in sorted(la.iterdir()):
            month = _month(item)
            if (until and month > until) or (only and month != only):
                continue
            target = landing / la.name / item.name
            if item.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                for file in item.iterdir():
                    _link(file, target / file.name)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                _link(item, target)
            linked += 1
    return linked


def _link(source: Path, target: Path) -> None:
    if not target.exists():
        os.link(source, target)


def _las(history: Path) -> list[Path]:
    return sorted(p for p in history.iterdir() if p.is_dir() and not p.name.startswith("."))


def _month(path: Path) -> str:
    return path.name[:7]
