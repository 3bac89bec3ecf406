"""Monthly partitions: one per reporting period, as the returns and the marts are.

The period-grained dbt models (the intermediate tables and marts) are
partitioned by month; a run for a range of months rebuilds just those months of
each (dbt_project/macros/monthly_slice.sql). A return for month M changes the
rolling 12-month figures of M and the 11 months after it, so the months a
change touches run from M to M + 11; `orchestration.monthly_builds` works out
which months are pending from the returns themselves.

The partitions start at FOSTERING_FIRST_PERIOD (default 2016-04: ten years of
history) and end with the current month, whose returns may already arrive.
History before the first partition is built only by a full refresh.

Not split by LA: every monthly mart compares LAs within a month (the benchmark
quartiles of a hub, the `all` rows), so one LA's month rebuilds that month for
all LAs anyway, and 150 x 120 partitions would swamp the UI and the event log
for no saving.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import dagster as dg
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from orchestration.settings import load_settings

KEY_FORMAT = "%Y-%m"
FULL_REFRESH_TAG = "fostering/full_refresh"

monthly_partitions = dg.MonthlyPartitionsDefinition(
    start_date=load_settings().first_period, end_offset=1, fmt=KEY_FORMAT
)


def partition_key(period: dt.date) -> str:
    return period.strftime(KEY_FORMAT)


def period_of(key: str) -> dt.date:
    return dt.datetime.strptime(key, KEY_FORMAT).date()


def months_of(window: dg.TimeWindow) -> tuple[dt.date, dt.date]:
    """A run's partition range as its first and last month (first-of-month dates), as dbt builds it."""
    first = window.start.date()
    last = (window.end - dt.timedelta(days=1)).date().replace(day=1)
    return first, last


def range_covering(periods: Iterable[dt.date]) -> dg.PartitionKeyRange | None:
    """The partition range from the earliest to the latest of `periods`, clipped to the partitions there are."""
    keys = monthly_partitions.get_partition_keys()
    wanted = sorted({partition_key(p) for p in periods})
    inside = [k for k in wanted if keys[0] <= k <= keys[-1]]
    if not inside:
        return None
    return dg.PartitionKeyRange(inside[0], inside[-1])


def all_partitions() -> dg.PartitionKeyRange:
    return dg.PartitionKeyRange(monthly_partitions.get_first_partition_key(), monthly_partitions.get_last_partition_key())


def is_full_refresh(tags: dict[str, str]) -> bool:
    return tags.get(FULL_REFRESH_TAG) == "true"


def rebuilt_months(tags: dict[str, str]) -> tuple[dt.date, dt.date] | None:
    """The first and last month a run's tags ask it to rebuild; None when it rebuilds from scratch or has no range."""
    start, end = tags.get(ASSET_PARTITION_RANGE_START_TAG), tags.get(ASSET_PARTITION_RANGE_END_TAG)
    if not start or not end or is_full_refresh(tags):
        return None
    return period_of(start), period_of(end)


def range_tags(key_range: dg.PartitionKeyRange, full_refresh: bool = False) -> dict[str, str]:
    """Run tags asking for one run over a range of months (Dagster's single-run backfill)."""
    tags = {ASSET_PARTITION_RANGE_START_TAG: key_range.start, ASSET_PARTITION_RANGE_END_TAG: key_range.end}
    if full_refresh:
        tags[FULL_REFRESH_TAG] = "true"
    return tags
