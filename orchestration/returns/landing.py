"""Find the returns in a landing folder, fingerprint them, and keep a copy of each.

A return is every XLSX file, every ZIP file and every folder that directly
holds CSV files; other folders are walked into. Anything else is reported and
left alone. A return's identity in the ledger is the SHA-256 of its bytes (of
its CSV files' names and bytes, for a folder), so the same file twice is seen
once and an edited file is a new return.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

RETURN_SUFFIXES = {".xlsx": "xlsx", ".xlsm": "xlsx", ".zip": "zip"}


@dataclass(frozen=True)
class Ignored:
    path: Path
    reason: str


def discover(landing: Path) -> tuple[list[Path], list[Ignored]]:
    """Every return under `landing` (sorted, for a stable order) and what was passed over."""
    returns: list[Path] = []
    ignored: list[Ignored] = []
    for folder, dirs, files in os.walk(landing):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        here = Path(folder)
        csv_folder = here != landing and any(f.lower().endswith(".csv") for f in files)
        if csv_folder:
            returns.append(here)  # its CSV files are one return; anything else beside them is looked at too
        for name in sorted(files):
            path = here / name
            suffix = path.suffix.lower()
            if name.startswith("."):
                continue
            if name.startswith("~$"):
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
    return sorted(returns), ignored


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checksum(path: Path) -> str:
    if path.is_dir():
        digest = hashlib.sha256()
        for member in sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() == ".csv"):
            digest.update(f"{member.name}\t{_file_digest(member)}\n".encode())
        return digest.hexdigest()
    return _file_digest(path)


def archive(path: Path, digest: str, archive_dir: Path) -> Path:
    """Copy the return, as received, to archive/<sha256>/<its name>; idempotent."""
    target = archive_dir / digest / path.name
    if target.exists():
        return target
    staging = archive_dir / digest / f".{path.name}.partial"
    if staging.exists():
        shutil.rmtree(staging) if staging.is_dir() else staging.unlink()
    staging.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir():
        shutil.copytree(path, staging)
    else:
        shutil.copy2(path, staging)
    staging.rename(target)
    return target
