"""The one Dagster code location: `dagster dev` finds it through workspace.yaml."""

from __future__ import annotations

import os

import dagster as dg

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

from orchestration.assets.ingest import ingest_returns  # noqa: E402
from orchestration.jobs import ingest_job  # noqa: E402
from orchestration.resources import default_resources  # noqa: E402
from orchestration.sensors import landing_sensor  # noqa: E402

defs = dg.Definitions(
    assets=[ingest_returns],
    jobs=[ingest_job],
    sensors=[landing_sensor],
    resources=default_resources(),
)
