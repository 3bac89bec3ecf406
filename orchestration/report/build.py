"""Writing the report folder of one publish: `<version>/report/` (index, la/, hub/, pages.json).

The pages are written into a temporary folder next to it, which then replaces
`report/` in one rename, so a reader never sees half a report; two builds of the
same publish's report take turns. `latest/report` follows the publish's `latest`
symlink.

A hub or LA page whose inputs did not change since the latest version is not drawn
again: it is a hard link of that version's page (a copy where linking fails), placed in
the temporary folder like a page drawn now. "Unchanged" is decided from a digest of the
page's inputs and of the report's code (`inputs.PageInputs.digest`), recorded per page in
`report/pages.json` with the page's sha256 and size; a carried page is hashed again and
must match what the latest version's `pages.json` records, or it is drawn afresh. The
overview, which names the publish, is always drawn. While a publish is being made, its
report is built before `latest` moves to it, so `latest` is the previous version; a
report built again for a version already published may carry from that version's own
report, or from a newer one (equal digests give equal pages, whichever version holds them).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

from orchestration.publish.writer import read_latest
from orchestration.report import overview_page
from orchestration.report.data import read_publish
from orchestration.report.inputs import RowBytes, code_fingerprint, page_inputs

REPORT_DIR = "report"
PAGES_JSON = "pages.json"
PAGES_FORMAT = 1
INDEX = "index.html"


@dataclass(frozen=True)
class ReportResult:
    path: Path  # <version>/report
    pages: list[Path] = field(default_factory=list)  # every page written, the overview first
    charts: int = 0
    seconds: float = 0.0
    rendered: int = 0  # pages drawn in this build (the overview always)
    carried: int = 0  # pages carried from a previous version's report (hard links), their inputs unchanged
    carried_from: str | None = None  # the version they were carried from

    @property
    def index(self) -> Path:
        return self.path / INDEX


def build_report(publish_version_dir: Path) -> ReportResult:
    """Build the static HTML report of one publish version folder, reading only that folder and its sibling versions."""
    started = time.perf_counter()
    publish = read_publish(Path(publish_version_dir))
    hubs = publish.hubs()
    target = publish.path / REPORT_DIR
    records: dict[str, dict] = {}
    with _one_writer(publish.path):
        previous = _previous(publish.path)
        code = code_fingerprint()
        row_bytes = RowBytes()
        with _staging(target) as staging:
            html, charts = overview_page.render(publish, hubs)
            records[INDEX] = _write(staging, INDEX, html, charts, None)
            for page in page_inputs(publish, hubs):
                digest = page.digest(publish, code, row_bytes)
                record = _carry(page.name, digest, previous, staging)
                if record is None:
                    html, charts = page.render(publish)
                    record = _write(staging, page.name, html, charts, digest)
                records[page.name] = record
            listing = {"format": PAGES_FORMAT, "version": publish.version, "code": code, "pages": records}
            (staging / PAGES_JSON).write_bytes((json.dumps(listing, indent=1, sort_keys=True) + "\n").encode("utf-8"))
    carried = sum(1 for r in records.values() if r["carried_from"] is not None)
    return ReportResult(
        path=target,
        pages=[target / name for name in records],
        charts=sum(r["charts"] for r in records.values()),
        seconds=time.perf_counter() - started,
        rendered=len(records) - carried,
        carried=carried,
        carried_from=previous.version if carried else None,
    )


def _write(staging: Path, name: str, html: str, charts: int, digest: str | None) -> dict:
    data = html.encode("utf-8")
    path = staging / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"inputs": digest, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), "charts": charts,
            "carried_from": None}


# --- carrying what did not change ----------------------------------------------------


@dataclass(frozen=True)
class _Previous:
    """The latest version's report, which a page whose inputs did not change is carried from."""

    version: str  # its folder's name
    path: Path  # its report folder
    pages: dict[str, dict]  # its pages.json entry per page


def _previous(publish_path: Path) -> _Previous | None:
    """The report of the latest version in the folder holding this publish (its sibling versions), if it has a pages.json."""
    latest = read_latest(publish_path.parent)
    if latest is None:
        return None
    try:
        listing = json.loads((latest / REPORT_DIR / PAGES_JSON).read_text(encoding="utf-8"))
        if listing["format"] != PAGES_FORMAT or not isinstance(listing["pages"], dict):
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no listing (a report from before listings), or a damaged one: every page is drawn
    return _Previous(latest.name, latest / REPORT_DIR, listing["pages"])


def _carry(name: str, digest: str | None, previous: _Previous | None, staging: Path) -> dict | None:
    """The previous report's page `name`, placed in `staging`, when its inputs' digest is `digest`; None to draw it.

    Carried only when the previous listing records the same digest for the page, and the
    page, once placed (a hard link, else a copy), has the sha256 and size recorded there:
    a previous page that was damaged, edited or removed is never carried.
    """
    if previous is None or digest is None:
        return None
    entry = previous.pages.get(name)
    if not isinstance(entry, dict) or entry.get("inputs") != digest:
        return None
    charts, size, sha256 = entry.get("charts"), entry.get("bytes"), entry.get("sha256")
    if not (isinstance(charts, int) and isinstance(size, int) and isinstance(sha256, str)):
        return None
    target = staging / name
    try:
        found = os.lstat(previous.path / name)
        if not stat.S_ISREG(found.st_mode) or found.st_size != size:
            return None  # cheap, before anything is placed or hashed
        target.parent.mkdir(parents=True, exist_ok=True)
        _link_or_copy(previous.path / name, target)
        placed = target.read_bytes()  # the bytes now in this report (a link: the very file the previous one holds)
        if len(placed) != size or hashlib.sha256(placed).hexdigest() != sha256:
            target.unlink()
            return None
    except OSError:
        with contextlib.suppress(OSError):
            target.unlink()
        return None
    return {"inputs": digest, "sha256": sha256, "bytes": size, "charts": charts, "carried_from": previous.version}


def _link_or_copy(source: Path, target: Path) -> None:
    """A hard link of `source` at `target`, else a copy (a published report's pages are never changed, only removed)."""
    try:
        os.link(source, target, follow_symlinks=False)
    except (OSError, NotImplementedError):  # no hard links here: another file system, EPERM, EMLINK...
        shutil.copy2(source, target, follow_symlinks=False)


# --- writing the folder --------------------------------------------------------------


@contextlib.contextmanager
def _one_writer(folder: Path):
    """One report build at a time per publish folder (a lock on the folder itself; the kernel frees it if we die)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def _staging(target: Path):
    """A temporary folder for the pages; once they are all in it, it replaces `target` in one rename."""
    staging = target.with_name(f".{REPORT_DIR}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        staging.mkdir()
        yield staging
        old = target.with_name(f".{REPORT_DIR}.old-{os.getpid()}")
        if target.exists():
            os.rename(target, old)
        os.rename(staging, target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
