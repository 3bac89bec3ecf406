"""The late-returns sensor: after mart_submission_status is rebuilt, notify each newly late LA once.

Each time `marts/mart_submission_status` has been materialised (by the full
pipeline or the daily status rebuild), the sensor reads the latest months'
status (`orchestration.status.submission_status`), compares the late
(la_code, period) pairs with those it saw last time, and calls the notifier
(`orchestration.notify.notifier_from_settings`, FOSTERING_NOTIFIER) once for each
LA and period that has become late. Only a `late` of true counts: a return whose
lateness is unknown (`late` null, `lateness_basis` 'unknown': loaded in bulk after
its due date and signed off in time) is never notified, so loading a history does
not send a notification for every old return. It records an AssetObservation on the mart
listing them, and keeps in its cursor (JSON) the storage id of the
materialisation it has dealt with and the late pairs:

    {"after": 1234, "late": [["E08000001", "2023-09"], ...]}

It is a plain `@dg.sensor` rather than `@dg.asset_sensor`, on purpose: an asset
sensor's cursor belongs to Dagster (it overwrites it with the event's storage id
after every evaluation), so it cannot keep the late pairs between evaluations.
This sensor does the same look-up for a new materialisation itself.

While a run still writes the warehouse (the mart is reported materialised before
dbt has finished its build), the read gives up after `wait_s` and the tick is
skipped without moving the cursor: the next tick tries the same
materialisation again. A notifier that raises is retried on the next tick for
that LA and period only.
"""

# No `from __future__ import annotations`: Dagster reads the resource annotation at runtime.
import json
from collections.abc import Callable
from pathlib import Path

import dagster as dg

from orchestration.notify import Notifier, notifier_from_settings
from orchestration.resources import WarehouseResource
from orchestration.status import StatusUnavailable, late_pairs, newly_late, submission_status

STATUS_ASSET = dg.AssetKey(["marts", "mart_submission_status"])


def read_cursor(cursor: str | None) -> tuple[int | None, set[tuple[str, str]]]:
    """(storage id of the last materialisation dealt with, late pairs); a missing or unreadable cursor is a fresh start."""
    try:
        state = json.loads(cursor) if cursor else {}
        after = state.get("after")
        return (int(after) if after is not None else None), {(str(la), str(p)) for la, p in state.get("late", [])}
    except (ValueError, TypeError, AttributeError):
        return None, set()


def write_cursor(after: int | None, late: set[tuple[str, str]]) -> str:
    return json.dumps({"after": after, "late": sorted([la, period] for la, period in late)})


def build_late_returns_sensor(
    notifier_factory: Callable[[], Notifier] = notifier_from_settings,
    *,
    name: str = "late_returns_sensor",
    periods: int = 3,
    wait_s: float = 20.0,
    minimum_interval_seconds: int = 60,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
) -> dg.SensorDefinition:
    """The sensor, with the notifier factory, the months looked at and the wait for a busy warehouse as parameters."""

    @dg.sensor(
        name=name,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        description=(
            "After marts/mart_submission_status is materialised, notify (FOSTERING_NOTIFIER, default: the log) "
            "once for each LA and period that has become late."
        ),
    )
    def _sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
        after, previous = read_cursor(context.cursor)
        records = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=STATUS_ASSET, after_storage_id=after), ascending=False, limit=1
        ).records
        if not records:
            return dg.SkipReason(f"no new materialisation of {STATUS_ASSET.to_user_string()}")
        latest = records[0].storage_id

        try:
            current = submission_status(Path(warehouse.path), periods, wait_s=wait_s)
        except StatusUnavailable as exc:
            return dg.SkipReason(f"{exc} (will try again on the next tick)")

        fresh = newly_late(previous, current)
        notifier = notifier_factory() if fresh else None
        notified, failed = [], set()
        for event in fresh:
            pair = (event["la_code"], event["period"])
            try:
                notifier.notify({"event": "late_return", **event})
                notified.append(event)
            except Exception as exc:  # a notifier's failure must not lose the others: retried next tick
                failed.add(pair)
                context.log.error(f"notifying {pair[0]} {pair[1]} failed: {type(exc).__name__}: {exc}")

        late_now = late_pairs(current) - failed
        cursor = write_cursor(after if failed else latest, late_now)
        context.log.info(
            f"{len(current['period'].unique())} period(s) read: {len(late_pairs(current))} late, "
            f"{len(notified)} newly late notified, {len(failed)} failed"
        )
        if not notified:
            return dg.SensorResult(skip_reason="no LA has become late since the last evaluation", cursor=cursor)
        observation = dg.AssetObservation(
            asset_key=STATUS_ASSET,
            description=f"{len(notified)} LA return(s) became late and were notified",
            metadata={
                "newly_late": dg.MetadataValue.int(len(notified)),
                "late": dg.MetadataValue.int(len(late_pairs(current))),
                "newly_late_returns": dg.MetadataValue.md(
                    "\n".join(f"- {e['la_name'] or e['la_code']} ({e['la_code']}) {e['period']}: {e['status']}, due {e['due_date']}" for e in notified)
                ),
            },
        )
        return dg.SensorResult(asset_events=[observation], cursor=cursor)

    return _sensor


late_returns_sensor = build_late_returns_sensor()
