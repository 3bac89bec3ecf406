"""Every setting the pipeline reads, in one place.

Each setting is one environment variable with the ``FOSTERING_`` prefix and an
embedded default that points at the bundled sample, so a fresh clone runs with
no configuration while a deployment overrides what it needs.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

from orchestration.errors import PlainError

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# A key anyone can read is no secret: it exists so the bundled synthetic sample
# runs out of the box. Production refuses it (see Settings.require_real_key).
DEVELOPMENT_PSEUDONYM_KEY = "DEVELOPMENT-KEY-ONLY-FOR-SYNTHETIC-SAMPLE-DATA"


class ConfigurationError(PlainError):
    """The configuration cannot be used as given (said in words an operator can act on)."""

    exit_status = 2


@dataclass(frozen=True)
class Settings:
    environment: str
    landing: Path
    warehouse: Path
    data_dir: Path
    publish_dir: Path
    pseudonym_key: str = field(repr=False)  # a secret: never in a repr or a log
    max_expanded_mb: int
    reference_dir: Path
    contracts_dir: Path
    expectations_dir: Path
    publish_keep: int  # publish versions kept besides the latest
    disclosure_threshold: int  # counts of children from 1 to this are withheld in published files
    swing_threshold: float  # a month-on-month change in a stock beyond this fraction is a warning
    swing_min_change: int  # ... and by more than this many households: a change of this many or fewer never warns
    places_tolerance: int  # in-house places_filled may differ from placements open at month end by this much
    publish_cron: str  # when the monthly publish runs (after the returns' due date)
    status_cron: str  # when the daily refresh of mart_submission_status runs
    schedule_timezone: str
    run_wait_s: float  # how long a second `fostering run` waits for the first before giving up
    sensor_interval_s: int  # the landing sensor looks at the landing folder at most this often
    first_period: str  # the first monthly partition (YYYY-MM): history before it is built only by full refreshes
    duckdb_memory_limit: str = "2GB"  # DuckDB spills to disk beyond this (its own default is 80 % of the machine)
    rehash_landing: bool = False  # hash every landing file, trusting no recorded stamp (landing_stamps.py)

    @property
    def archive_dir(self) -> Path:
        return self.data_dir / "archive"

    @property
    def findings_dir(self) -> Path:
        return self.data_dir / "findings"

    @property
    def uses_development_key(self) -> bool:
        return self.pseudonym_key == DEVELOPMENT_PSEUDONYM_KEY

    @property
    def max_expanded_bytes(self) -> int:
        return self.max_expanded_mb * 1024 * 1024

    def with_overrides(self, **changes) -> "Settings":
        clean = {k: (absolute(v) if isinstance(getattr(self, k), Path) else v) for k, v in changes.items() if v is not None}
        return replace(self, **clean)

    def require_real_key(self) -> None:
        """Production must never pseudonymise real children with a published key."""
        if self.environment == "production" and (not self.pseudonym_key or self.uses_development_key):
            raise ConfigurationError(
                "FOSTERING_ENV is 'production' but no real pseudonymisation key is set: "
                "set FOSTERING_PSEUDONYM_KEY to a secret of at least 32 characters."
            )
        if self.environment == "production" and len(self.pseudonym_key) < 32:
            raise ConfigurationError("FOSTERING_PSEUDONYM_KEY must be at least 32 characters in production.")


def absolute(path: str | os.PathLike) -> Path:
    """A path made absolute against the current folder, once, where it is read (`~` expanded).

    dbt runs with the dbt project as its working folder, so a relative path
    handed on to it would point somewhere else.
    """
    return Path(os.path.abspath(os.path.expanduser(os.fspath(path))))


ENVIRONMENTS = ("development", "production")
PERIOD_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
MEMORY_RE = re.compile(r"^\s*\d+(\.\d+)?\s*([KMGT]i?B|[KMGT]|B|%)\s*$", re.IGNORECASE)
FLAGS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


@lru_cache(maxsize=32)
def _valid_cron(text: str) -> bool:
    # Dagster's own check (what a ScheduleDefinition accepts). Imported only for a
    # cron setting that is set, so the commands that never import dagster stay quick.
    from dagster._utils.schedules import is_valid_cron_string

    return is_valid_cron_string(text)


def _valid_timezone(text: str) -> bool:
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


class _Reader:
    """Reads settings from the environment, noting every bad one instead of stopping at the first."""

    def __init__(self, env):
        self.env = env
        self.problems: list[str] = []
        self.defaults: dict[str, object] = {}  # each variable read, and the value it has when unset

    def _default(self, name: str, default):
        self.defaults[name] = default
        return default

    def raw(self, name: str) -> str | None:
        value = self.env.get(name)
        return None if value is None or not str(value).strip() else str(value).strip()

    def path(self, name: str, default) -> Path:
        default = self._default(name, absolute(default))
        return absolute(self.raw(name) or default)

    def integer(self, name: str, default: int, minimum: int, what: str | None = None) -> int:
        what = what or (f"a whole number of at least {minimum}" if minimum else "a whole number")
        return self._parsed(name, default, int, lambda v: v >= minimum, what)

    def number(self, name: str, default: float, low: float, high: float | None, what: str) -> float:
        return self._parsed(name, default, float, lambda v: v == v and v >= low and (high is None or v <= high), what)

    def _parsed(self, name: str, default, convert, valid, what: str):
        self._default(name, default)
        text = self.raw(name)
        if text is None:
            return default
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not valid(value):
            self.problems.append(f"{name} must be {what} (found {text!r})")
            return default
        return value

    def flag(self, name: str) -> bool:
        value = FLAGS[self.checked(name, "0", lambda v: v.lower() in FLAGS, "1 or 0 (or true/false, yes/no)").lower()]
        self._default(name, False)
        return value

    def checked(self, name: str, default: str, valid, what: str) -> str:
        self._default(name, default)
        text = self.raw(name)
        if text is None:
            return default
        if not valid(text):
            self.problems.append(f"{name} must be {what} (found {text!r})")
            return default
        return text


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Every setting, read and checked at once: a ConfigurationError names every bad one.

    Paths are made absolute against the current folder here, once.
    """
    read = _Reader(os.environ if env is None else env)
    settings = _read_settings(read)
    if read.problems:
        raise ConfigurationError("; ".join(read.problems))
    return settings


def _read_settings(read: _Reader) -> Settings:
    env = read.env
    # A warehouse put somewhere else takes its archive and findings with it,
    # unless the data folder is set on its own.
    warehouse_set = read.raw("FOSTERING_WAREHOUSE")
    default_data = absolute(warehouse_set).parent if warehouse_set else PROJECT_ROOT / "data"
    data_dir = read.path("FOSTERING_DATA_DIR", default_data)
    environment = read.checked(
        "FOSTERING_ENV", "development", lambda v: v.lower() in ENVIRONMENTS, " or ".join(ENVIRONMENTS)
    ).lower()
    key = env.get("FOSTERING_PSEUDONYM_KEY", "")
    if not key and environment != "production":
        key = DEVELOPMENT_PSEUDONYM_KEY
    settings = Settings(
        environment=environment,
        landing=read.path("FOSTERING_LANDING", PROJECT_ROOT / "raw" / "sample"),
        warehouse=read.path("FOSTERING_WAREHOUSE", data_dir / "warehouse.duckdb"),
        data_dir=data_dir,
        publish_dir=read.path("FOSTERING_PUBLISH_DIR", data_dir / "published"),
        pseudonym_key=key,
        max_expanded_mb=read.integer("FOSTERING_MAX_EXPANDED_MB", 200, minimum=1),
        reference_dir=read.path("FOSTERING_REFERENCE_DIR", PROJECT_ROOT / "dbt_project" / "seeds"),
        contracts_dir=read.path("FOSTERING_CONTRACTS_DIR", Path(__file__).parent / "contracts"),
        expectations_dir=read.path("FOSTERING_EXPECTATIONS_DIR", PROJECT_ROOT / "expectations"),
        publish_keep=read.integer("FOSTERING_PUBLISH_KEEP", 5, minimum=0),
        disclosure_threshold=read.integer("FOSTERING_DISCLOSURE_THRESHOLD", 5, minimum=0),
        swing_threshold=read.number("FOSTERING_SWING_THRESHOLD", 0.15, 0, 1, "a number between 0 and 1"),
        # 3: a change of 3 households is a small stock's ordinary month, not news (decisions.md W1)
        swing_min_change=read.integer("FOSTERING_SWING_MIN_CHANGE", 3, minimum=0, what="a whole number of households, 0 or more"),
        places_tolerance=read.integer("FOSTERING_PLACES_TOLERANCE", 2, minimum=0),
        publish_cron=read.checked("FOSTERING_PUBLISH_CRON", "0 6 20 * *", _valid_cron, "a cron schedule of five fields, like '0 6 20 * *'"),
        status_cron=read.checked("FOSTERING_STATUS_CRON", "0 7 * * *", _valid_cron, "a cron schedule of five fields, like '0 7 * * *'"),
        schedule_timezone=read.checked("FOSTERING_TIMEZONE", "Europe/London", _valid_timezone, "a time zone name like 'Europe/London'"),
        run_wait_s=read.number("FOSTERING_RUN_WAIT_SECONDS", 600.0, 0, None, "a number of seconds, 0 or more"),
        sensor_interval_s=read.integer("FOSTERING_SENSOR_INTERVAL_SECONDS", 30, minimum=1),
        first_period=read.checked("FOSTERING_FIRST_PERIOD", "2016-04", PERIOD_RE.match, "a month as YYYY-MM, like '2016-04'"),
        duckdb_memory_limit=read.checked(
            "FOSTERING_DUCKDB_MEMORY_LIMIT", "2GB", MEMORY_RE.match, "an amount of memory like '2GB' or '512MB'"
        ),
        rehash_landing=read.flag("FOSTERING_REHASH_LANDING"),
    )
    return settings


# Defaults that follow another setting when that one is set (see _read_settings).
DERIVED_DEFAULTS = {
    "FOSTERING_DATA_DIR": "the folder of FOSTERING_WAREHOUSE if that is set",
    "FOSTERING_WAREHOUSE": "warehouse.duckdb in FOSTERING_DATA_DIR if that is set",
    "FOSTERING_PUBLISH_DIR": "published in FOSTERING_DATA_DIR if that is set",
}


def setting_defaults() -> dict[str, object]:
    """Every FOSTERING_* variable the settings are read from, with its default (its value when unset).

    Read off `load_settings` itself on an empty environment, so help texts and the
    README's checks never repeat a default. (FOSTERING_PSEUDONYM_KEY, a secret, is
    left out: unset, it is a published development key, refused in production.)
    """
    read = _Reader({})
    _read_settings(read)
    return dict(read.defaults)


def describe_default(variable: str, *, relative: bool = False, derived: bool = True) -> str:
    """A setting's default as help and docs show it.

    Paths are absolute, or with `relative` relative to the project folder (as the
    README writes them); numbers as written (600, not 600.0); a flag's default as 0.
    With `derived`, a default that follows another setting says so.
    """
    value = setting_defaults()[variable]
    if isinstance(value, Path):
        text = value.relative_to(PROJECT_ROOT).as_posix() if relative and value.is_relative_to(PROJECT_ROOT) else str(value)
    elif isinstance(value, bool):
        text = str(int(value))
    elif isinstance(value, float):
        text = f"{value:g}"
    else:
        text = str(value)
    note = DERIVED_DEFAULTS.get(variable) if derived else None
    return f"{text}, or {note}" if note else text
