"""The rebuild sensor: after returns arrive, rebuild the months they touch.

The landing sensor ingests each return in its own run; this one then asks for
one `marts_job` run over the range of months whose marts are behind their
returns (`orchestration.monthly_builds.pending_periods`): for a resubmission
of month M that is M to M + 11, its rolling windows, and nothing before.

It waits while ingest runs are queued or in progress, so a batch of returns
landing together is rebuilt in one run, and while another run holds the
warehouse. The run key is the pending months and their fingerprints, so the
same state never launches two runs (across daemon restarts too); a failed
rebuild is re-executed from the UI, or picked up by the next return or the
monthly publish, which rebuilds every month.
"""

# No `from __future__ import annotations`: Dagster reads the resource annotation at runtime.
import hashlib
from pathlib import Path

import dagster as dg

from orchestration.jobs import ingest_job, marts_job
from orchestration.monthly_builds import pending
from orchestration.partitions import range_covering, range_tags
from orchestration.resources import WarehouseResource
from orchestration.warehouse import WarehouseBusy, connect

BUSY_STATUSES = [
    dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED,
]


@dg.sensor(job=marts_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.STOPPED)
def rebuild_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
    """Ask for one marts_job run over the months whose marts are behind their returns."""
    ingesting = context.instance.get_runs_count(dg.RunsFilter(job_name=ingest_job.name, statuses=BUSY_STATUSES))
    if ingesting:
        return dg.SkipReason(f"waiting for {ingesting} ingest run(s) to finish")
    if not Path(warehouse.path).exists():
        return dg.SkipReason("no warehouse yet")
    try:
        with connect(Path(warehouse.path), read_only=True, wait_s=5) as con:
            behind = pending(con)
    except WarehouseBusy:
        return dg.SkipReason("another run is using the warehouse; trying again on the next tick")
    key_range = range_covering(period for period, _ in behind)
    if key_range is None:
        return dg.SkipReason("every month's marts are up to date with its returns")
    state = ",".join(f"{period}:{fingerprint}" for period, fingerprint in behind)
    return dg.RunRequest(
        run_key=f"rebuild-{key_range.start}-{key_range.end}-{hashlib.sha256(state.encode()).hexdigest()[:16]}",
        tags={**range_tags(key_range), "fostering/pending_months": str(len(behind))},
    )
