"""When the pipeline runs by itself: a monthly publish after the due date, and a daily lateness check.

Returns are due on the 15th of the month after their period, so by default
the full pipeline (ingest, marts, gate, publish) runs at 06:00 on the 20th,
and mart_submission_status is rebuilt every morning so that a return shows
as late on the day after its due date. Both times are settings
(FOSTERING_PUBLISH_CRON, FOSTERING_STATUS_CRON, FOSTERING_TIMEZONE).
"""

from __future__ import annotations

import dagster as dg

from orchestration.jobs import pipeline_job, status_job
from orchestration.settings import load_settings

_settings = load_settings()

monthly_publish_schedule = dg.ScheduleDefinition(
    name="monthly_publish",
    job=pipeline_job,
    cron_schedule=_settings.publish_cron,
    execution_timezone=_settings.schedule_timezone,
    description="Ingest what has arrived, build the marts, run the quality gate and publish (default 06:00 on the 20th).",
)

daily_status_schedule = dg.ScheduleDefinition(
    name="daily_submission_status",
    job=status_job,
    cron_schedule=_settings.status_cron,
    execution_timezone=_settings.schedule_timezone,
    description="Rebuild mart_submission_status every morning, so late returns show on the day they become late.",
)

SCHEDULES = [monthly_publish_schedule, daily_status_schedule]
