"""The landing-folder sensor: one run per new or changed return.

The run key is the return's checksum, so Dagster never launches two runs for
the same bytes (across daemon restarts too: run keys are kept in the instance),
and an edited file, having a new checksum, is a new run. The cursor remembers
each path's size and modification time so unchanged files are not re-hashed on
every tick.

A file is ingested only once it has stopped changing: a new or changed size or
modification time is noted on one tick and acted on at the next tick that finds
it the same, so a return still being copied into the landing folder is never
ingested half-written (which would give a rejected run for the partial bytes
and a second run for the whole file). The cost is one sensor interval.

Cursor entries: `[size, mtime_ns, checksum]` for a settled file, and
`[size, mtime_ns, previous checksum or null, "changing"]` while one is settling.
"""

import json
from pathlib import Path

import dagster as dg

from orchestration.jobs import ingest_job
from orchestration.resources import LandingResource
from orchestration.returns.landing import checksum, discover
from orchestration.settings import load_settings


CHANGING = "changing"


def _stamp(path) -> list:
    if path.is_dir():
        stats = [p.stat() for p in path.iterdir() if p.is_file()]
        return [sum(s.st_size for s in stats), max((s.st_mtime_ns for s in stats), default=0)]
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns]


@dg.sensor(
    job=ingest_job,
    minimum_interval_seconds=load_settings().sensor_interval_s,  # FOSTERING_SENSOR_INTERVAL_SECONDS, default 30
    default_status=dg.DefaultSensorStatus.STOPPED,
)
def landing_sensor(context: dg.SensorEvaluationContext, landing: LandingResource):
    """Ask for one ingest run per return whose bytes have not been seen before."""
    seen: dict[str, list] = json.loads(context.cursor) if context.cursor else {}
    returns, _ = discover(Path(landing.path))
    current: dict[str, list] = {}
    for path in returns:
        stamp = _stamp(path)
        previous = seen.get(str(path))
        if previous is None or previous[:2] != stamp:
            current[str(path)] = [*stamp, previous[2] if previous else None, CHANGING]  # act once it holds still
            continue
        if len(previous) == 3:  # settled and dealt with
            current[str(path)] = previous
            continue
        digest = checksum(path)
        current[str(path)] = [*stamp, digest]
        if previous[2] == digest:
            continue  # touched, not changed
        yield dg.RunRequest(
            run_key=digest,
            run_config={"ops": {"ingest_returns": {"config": {"paths": [str(path)]}}}},
            tags={"fostering/return": path.name, "fostering/checksum": digest[:12]},
        )
    context.update_cursor(json.dumps(current))
