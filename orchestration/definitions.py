"""The one Dagster code location: `dagster dev` finds it through workspace.yaml.

The dbt manifest must exist before this module is imported (`make dev`, the
`fostering` command and the tests prepare it; see orchestration/dbt_project.py).
"""

from __future__ import annotations

import os

import dagster as dg

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

from orchestration.assets.dbt import fostering_dbt_models, fostering_dbt_monthly  # noqa: E402
from orchestration.assets.ingest import ingest_returns  # noqa: E402
from orchestration.assets.publish import published_marts  # noqa: E402
from orchestration.checks import quality_gate  # noqa: E402
from orchestration.jobs import ingest_job, marts_job, pipeline_job, status_job  # noqa: E402
from orchestration.resources import default_resources  # noqa: E402
from orchestration.schedules import SCHEDULES  # noqa: E402
from orchestration.late_returns import late_returns_sensor  # noqa: E402
from orchestration.rebuild_sensor import rebuild_sensor  # noqa: E402
from orchestration.sensors import landing_sensor  # noqa: E402

defs = dg.Definitions(
    assets=[ingest_returns, fostering_dbt_models, fostering_dbt_monthly, published_marts],
    asset_checks=[quality_gate],
    jobs=[ingest_job, marts_job, pipeline_job, status_job],
    schedules=SCHEDULES,
    sensors=[landing_sensor, rebuild_sensor, late_returns_sensor],
    resources=default_resources(),
)
