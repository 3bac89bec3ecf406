"""Jobs: named selections of assets that runs, sensors and schedules launch.

The monthly dbt models are partitioned by reporting month, so a job that
includes them runs for a range of months (one run, Dagster's single-run
backfill); the other assets in it run whole.
"""

from __future__ import annotations

import dagster as dg

DBT_GROUPS = ("reference", "staging", "intermediate", "marts")

ingest_job = dg.define_asset_job(
    "ingest_job",
    selection=dg.AssetSelection.groups("ingest"),
    description="Ingest returns: the named files (sensor runs), or everything new in the landing folder.",
    # one step: running it in the run worker saves a second process loading the code for every return
    executor_def=dg.in_process_executor,
)

marts_job = dg.define_asset_job(
    "marts_job",
    selection=dg.AssetSelection.groups(*DBT_GROUPS),
    description="Rebuild the marts for a range of reporting months (and the unpartitioned models whole): "
    "what the rebuild sensor launches after returns arrive, and what a backfill runs.",
)

pipeline_job = dg.define_asset_job(
    "pipeline_job",
    selection=dg.AssetSelection.all(),
    description="The main job: ingest everything new in the landing folder, build the dbt models for the run's months "
    "and run their tests, run the quality gate, and publish if it passed.",
)

# mart_submission_status and what it is built from, without re-ingesting or re-publishing:
# refreshed daily so that a return becomes late on the day after its due date.
STATUS_KEY = dg.AssetKey(["marts", "mart_submission_status"])
status_job = dg.define_asset_job(
    "status_job",
    selection=dg.AssetSelection.assets(STATUS_KEY).upstream() - dg.AssetSelection.groups("ingest"),
    description="Rebuild mart_submission_status (and the staging it reads) so late returns show on the day they become late.",
)
