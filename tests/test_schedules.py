"""The pipeline runs by itself: a monthly publish after the due date, and a daily lateness refresh."""

import datetime as dt
import importlib
from zoneinfo import ZoneInfo

import dagster as dg
from dagster._utils.schedules import cron_string_iterator

from orchestration import schedules
from orchestration.definitions import defs

LONDON = ZoneInfo("Europe/London")


def _ticks(schedule: dg.ScheduleDefinition, start: dt.datetime, n: int) -> list[dt.datetime]:
    ticks = cron_string_iterator(start.timestamp(), schedule.cron_schedule, schedule.execution_timezone)
    return [next(ticks) for _ in range(n)]


def test_the_monthly_publish_runs_at_six_on_the_twentieth_london_time():
    schedule = defs.resolve_schedule_def("monthly_publish")
    assert schedule.job_name == "pipeline_job"
    ticks = _ticks(schedule, dt.datetime(2023, 10, 1, tzinfo=LONDON), 3)
    assert [t.astimezone(LONDON).replace(tzinfo=None) for t in ticks] == [
        dt.datetime(2023, 10, 20, 6, 0), dt.datetime(2023, 11, 20, 6, 0), dt.datetime(2023, 12, 20, 6, 0),
    ]
    # after the due date (the 15th of the month after the period): September's returns are due 15 October
    assert ticks[0].date() > dt.date(2023, 10, 15)


def test_the_lateness_refresh_runs_every_morning_and_rebuilds_only_the_status():
    schedule = defs.resolve_schedule_def("daily_submission_status")
    assert schedule.job_name == "status_job"
    ticks = _ticks(schedule, dt.datetime(2023, 10, 15, 12, 0, tzinfo=LONDON), 2)
    # the first tick after the due date's noon is the next morning: a return due on the 15th is late on the 16th
    assert [t.astimezone(LONDON).replace(tzinfo=None) for t in ticks] == [dt.datetime(2023, 10, 16, 7, 0), dt.datetime(2023, 10, 17, 7, 0)]
    selected = {k.to_user_string() for k in defs.resolve_job_def("status_job").asset_layer.selected_asset_keys}
    assert "marts/mart_submission_status" in selected
    assert not {k for k in selected if k.startswith(("raw/", "ops/", "publish/"))}


def test_schedule_times_are_settings(monkeypatch):
    monkeypatch.setenv("FOSTERING_PUBLISH_CRON", "30 5 22 * *")
    monkeypatch.setenv("FOSTERING_TIMEZONE", "UTC")
    try:
        reloaded = importlib.reload(schedules)
        assert reloaded.monthly_publish_schedule.cron_schedule == "30 5 22 * *"
        assert reloaded.monthly_publish_schedule.execution_timezone == "UTC"
    finally:
        monkeypatch.undo()
        importlib.reload(schedules)


def test_writers_share_one_pool():
    graph = defs.resolve_asset_graph()
    for key in (["ops", "submissions"], ["marts", "mart_recruitment"], ["publish", "published_marts"]):
        node = graph.get(dg.AssetKey(key))
        assert node.pools == {"fostering_warehouse"}, key
