"""Telling someone that an LA's return is late: a pluggable notifier.

The `late_returns_sensor` calls a notifier once for each LA and period that
has become late: only a `late` of true. A return whose lateness is unknown (loaded
in bulk after its due date and signed off in time, `late` null) is never
notified. A notifier is any object with a `notify(event: dict) -> None`
method. `event` is one row of `orchestration.status.submission_status`, as
JSON-ready values, plus `"event": "late_return"`:

    {"event": "late_return", "la_code": "E08000001", "la_name": "Bolton",
     "hub": "Greater Manchester", "period": "2023-09", "status": "missing",
     "late": true, "lateness_basis": "no_accepted_return",
     "due_date": "2023-10-15", "submitted_at": null,
     "received_at": null, "versions": 0, "errors": null, "warnings": null}

Which notifier is used is chosen by the environment variable FOSTERING_NOTIFIER:

- `log` (the default, also when unset or empty): `LogNotifier`, one WARNING line
  per late LA and period to the `logging` logger "fostering.notify"
  (in Dagster, the code server's log).
- `package.module:factory`: imports `package.module` (it must be importable
  where the Dagster code location runs) and calls `factory()` with no
  arguments; what it returns is the notifier. A class with a `notify` method is
  a factory too. For example, with `FOSTERING_NOTIFIER=hub_alerts.email:EmailNotifier`:

      # hub_alerts/email.py
      class EmailNotifier:
          def __init__(self):
              self.to = os.environ["HUB_ALERTS_TO"]   # its own settings
          def notify(self, event: dict) -> None:
              send_mail(self.to, f"{event['la_name']} {event['period']} is late", ...)

A notifier that raises is retried for that LA and period on the sensor's next
evaluation; the others are not repeated.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from orchestration.settings import ConfigurationError

LOGGER_NAME = "fostering.notify"
ENV_VAR = "FOSTERING_NOTIFIER"


@runtime_checkable
class Notifier(Protocol):
    def notify(self, event: dict) -> None: ...


def describe(event: Mapping) -> str:
    """One line a person can read about a late return."""
    who = event.get("la_name") or event.get("la_code") or "?"
    where = ", ".join(str(x) for x in (event.get("la_code"), event.get("hub")) if x)
    status = str(event.get("status") or "?").replace("_", " ")
    received = f", received {event['received_at']}" if event.get("received_at") else ""
    if event.get("lateness_basis") == "signed_off":  # loaded in bulk: its receipt is the loading day
        received = f", signed off {event.get('submitted_at')}"
    return f"late return: {who} ({where}) {event.get('period')} was due {event.get('due_date')}; status {status}{received}"


class LogNotifier:
    """The default: one line per late LA and period to the logger "fostering.notify"."""

    def __init__(self, logger: logging.Logger | None = None, level: int = logging.WARNING):
        self.logger = logger or logging.getLogger(LOGGER_NAME)
        self.level = level

    def notify(self, event: dict) -> None:
        self.logger.log(self.level, describe(event))


def _load_factory(spec: str):
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigurationError(
            f"{ENV_VAR}={spec!r} is neither 'log' nor 'package.module:factory' (a module and a callable, separated by ':')"
        )
    try:
        target = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(f"{ENV_VAR}={spec!r}: cannot import {module_name!r} ({exc})") from None
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ConfigurationError(f"{ENV_VAR}={spec!r}: {module_name!r} has no {attr!r}") from None
    if not callable(target):
        raise ConfigurationError(f"{ENV_VAR}={spec!r}: {attr!r} is not callable")
    return target


def notifier_from_settings(env: Mapping[str, str] | None = None) -> Notifier:
    """The notifier FOSTERING_NOTIFIER names (`log` by default, or `package.module:factory`)."""
    env = os.environ if env is None else env
    spec = (env.get(ENV_VAR) or "log").strip()
    if spec.lower() == "log":
        return LogNotifier()
    notifier = _load_factory(spec)()
    if not callable(getattr(notifier, "notify", None)):
        raise ConfigurationError(f"{ENV_VAR}={spec!r}: the factory returned {notifier!r}, which has no notify(event) method")
    return notifier
