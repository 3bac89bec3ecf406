"""When the pipeline runs by itself: a monthly publish after the due date, and a daily lateness check.

Returns are due on the 15th of the month after their period, so by default
the full pipeline (ingest, marts, gate, publish) runs at 06:00 on the 20th,
rebuilding every month (a monthly reconcile: whatever the rebuild sensor did
or missed during the month, the publish is built from all of it), and
mart_submission_status is rebuilt every morning so that a return shows
as late on the day after its due date. Both times are settings
(FOSTERING_PUBLISH_CRON, FOSTERING_STATUS_CRON, FOSTERING_TIMEZONE).
"""

from __future__ import annotations

import dagster as dg

from orchestration.jobs import pipeline_job, status_job
from orchestration.partitions import all_partitions, range_tags
from orchestration.settings import load_settings

_settings = load_settings()


@dg.schedule(
    name="monthly_publish",
    job=pipeline_job,
    cron_schedule=_settings.publish_cron,
    execution_timezone=_settings.schedule_timezone,
    description="Ingest what has arrived, rebuild the marts for every month, run the quality gate and publish "
    "(default 06:00 on the 20th).",
)
def monthly_publish_schedule(context: dg.ScheduleEvaluationContext):
    return dg.RunRequest(tags=range_tags(all_partitions()))


daily_status_schedule = dg.ScheduleDefinition(
    name="daily_submission_status",
    job=status_job,
    cron_schedule=_settings.status_cron,
    execution_timezone=_settings.schedule_timezone,
    description="Rebuild mart_submission_status every morning, so late returns show on the day they become late.",
)

SCHEDULES = [monthly_publish_schedule, daily_status_schedule]
