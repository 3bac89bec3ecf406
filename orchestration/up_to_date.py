"""Whether a run with nothing new can stop after the ingest.

When the ingest stored no return, no month's marts are behind their returns,
and everything else that shapes the marts and the publish is as it was at the
end of the last complete run on the same day, dbt, the gate and the publish
would rebuild, re-check and re-publish exactly what is there: the run stops
after the ingest (decision L3). What "everything else" is, is the run's
*inputs*, fingerprinted here:

- the dbt project, as its manifest (models, tests, vars of dbt_project.yml);
- the reference folder's files (the LA list, hubs) and the gate's suites
  (the expectations folder), by name, size and time;
- the publish's disclosure rules, and the pipeline's version;
- the settings the gate or the publish reads (disclosure threshold, swing
  threshold and floor, places tolerance, publish folder);
- the day, because the status mart's lateness changes with it;
- the current returns (`ops.submissions`), so a return stored by another
  process (a sensor's run) since is never missed.

The fingerprint is recorded only after a run that ended with its marts
published (or equal to the latest publish), so a run whose gate blocked the
publish, or that failed, is never skipped over by the next.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

from orchestration import __version__
from orchestration.dbt_project import MANIFEST_PATH
from orchestration.publish.disclosure import RULES_PATH as DISCLOSURE_RULES
from orchestration.settings import Settings
from orchestration.warehouse import connect, writer_lock

def inputs_fingerprint(settings: Settings) -> str | None:
    """The fingerprint of what a run would build and publish from; None without a warehouse."""
    if not settings.warehouse.exists():
        return None
    digest = hashlib.sha256()
    digest.update(MANIFEST_PATH.read_bytes())
    for folder in (settings.reference_dir, settings.expectations_dir):
        for path in sorted(Path(folder).glob("*")) if Path(folder).is_dir() else []:
            stat = path.stat()
            digest.update(f"{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    digest.update(DISCLOSURE_RULES.read_bytes())
    knobs = (
        __version__, settings.disclosure_threshold, settings.swing_threshold, settings.swing_min_change,
        settings.places_tolerance, settings.publish_dir,
    )
    digest.update(repr(knobs).encode())
    with connect(settings.warehouse, read_only=True) as con:
        today, returns = con.execute(
            "SELECT current_date, coalesce(string_agg(submission_id || ':' || status, ',' ORDER BY submission_id), '') "
            "FROM ops.submissions WHERE is_current"
        ).fetchone()
    digest.update(f"{today}\n{returns}".encode())
    return digest.hexdigest()


def nothing_to_do(settings: Settings, fingerprint: str | None) -> bool:
    """True when the last complete run had the same inputs (and so left nothing to build or publish)."""
    if fingerprint is None:
        return False
    with connect(settings.warehouse, read_only=True) as con:  # the ingest has run ensure_schema: the table is there
        last = con.execute("SELECT fingerprint FROM ops.completed_runs ORDER BY finished_at DESC LIMIT 1").fetchone()
    return last is not None and last[0] == fingerprint


def record_complete(settings: Settings, fingerprint: str) -> None:
    """Remember the inputs of a run that ended published (only the latest is kept)."""
    with writer_lock(settings.warehouse), connect(settings.warehouse) as con:
        con.execute("DELETE FROM ops.completed_runs")
        con.execute("INSERT INTO ops.completed_runs VALUES (?, ?)", [fingerprint, dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)])
