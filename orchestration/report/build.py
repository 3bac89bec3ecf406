"""Writing the report folder of one publish: `<version>/report/` (index, la/, hub/).

The pages are written into a temporary folder next to it, which then replaces
`report/` in one rename, so a reader never sees half a report; two builds of the
same publish's report take turns. `latest/report` follows the publish's `latest`
symlink.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from orchestration.report import hub_page, la_page, overview_page
from orchestration.report.data import hub_slug, read_publish

REPORT_DIR = "report"


@dataclass(frozen=True)
class ReportResult:
    path: Path  # <version>/report
    pages: list[Path] = field(default_factory=list)  # every page written, the overview first
    charts: int = 0
    seconds: float = 0.0

    @property
    def index(self) -> Path:
        return self.path / "index.html"


def build_report(publish_version_dir: Path) -> ReportResult:
    """Build the static HTML report of one publish version folder, reading only that folder."""
    started = time.perf_counter()
    publish = read_publish(Path(publish_version_dir))
    hubs = publish.hubs()
    pages: dict[str, str] = {}
    charts = 0
    html, n = overview_page.render(publish, hubs)
    pages["index.html"], charts = html, charts + n
    for hub, members in hubs.items():
        html, n = hub_page.render(publish, hub, members)
        pages[f"hub/{hub_slug(hub)}.html"], charts = html, charts + n
        for la in members:
            html, n = la_page.render(publish, la)
            pages[f"la/{la.slug}.html"], charts = html, charts + n
    target = publish.path / REPORT_DIR
    with _one_writer(publish.path):
        _write_atomically(target, pages)
    return ReportResult(target, [target / name for name in pages], charts, time.perf_counter() - started)


@contextlib.contextmanager
def _one_writer(folder: Path):
    """One report build at a time per publish folder (a lock on the folder itself; the kernel frees it if we die)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _write_atomically(target: Path, pages: dict[str, str]) -> None:
    staging = target.with_name(f".{REPORT_DIR}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        for name, html in pages.items():
            path = staging / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(html, encoding="utf-8")
        old = target.with_name(f".{REPORT_DIR}.old-{os.getpid()}")
        if target.exists():
            os.rename(target, old)
        os.rename(staging, target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
