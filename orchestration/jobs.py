"""Jobs: named selections of assets that runs, sensors and schedules launch."""

from __future__ import annotations

import dagster as dg

ingest_job = dg.define_asset_job(
    "ingest_job",
    selection=dg.AssetSelection.groups("ingest"),
    description="Ingest returns: the named files (sensor runs), or everything new in the landing folder.",
)

pipeline_job = dg.define_asset_job(
    "pipeline_job",
    selection=dg.AssetSelection.all(),
    description="The main job: ingest everything new in the landing folder, build every dbt model and run its tests, "
    "run the quality gate, and publish if it passed.",
)
