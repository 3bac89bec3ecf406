"""Every setting the pipeline reads, in one place.

Each setting is one environment variable with the ``FOSTERING_`` prefix and an
embedded default that points at the bundled sample, so a fresh clone runs with
no configuration while a deployment overrides what it needs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# A key anyone can read is no secret: it exists so the bundled synthetic sample
# runs out of the box. Production refuses it (see Settings.require_real_key).
DEVELOPMENT_PSEUDONYM_KEY = "DEVELOPMENT-KEY-ONLY-FOR-SYNTHETIC-SAMPLE-DATA"


class ConfigurationError(RuntimeError):
    """The configuration cannot be used as given (said in words an operator can act on)."""


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
    places_tolerance: int  # in-house places_filled may differ from placements open at month end by this much
    publish_cron: str  # when the monthly publish runs (after the returns' due date)
    status_cron: str  # when the daily refresh of mart_submission_status runs
    schedule_timezone: str
    run_wait_s: float  # how long a second `fostering run` waits for the first before giving up
    sensor_interval_s: int  # the landing sensor looks at the landing folder at most this often
    first_period: str  # the first monthly partition (YYYY-MM): history before it is built only by full refreshes
    duckdb_memory_limit: str = "2GB"  # DuckDB spills to disk beyond this (its own default is 80 % of the machine)

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
        clean = {k: (Path(v) if isinstance(getattr(self, k), Path) else v) for k, v in changes.items() if v is not None}
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


def load_settings(env: dict[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    # A warehouse put somewhere else takes its archive and findings with it,
    # unless the data folder is set on its own.
    default_data = Path(env["FOSTERING_WAREHOUSE"]).parent if env.get("FOSTERING_WAREHOUSE") else PROJECT_ROOT / "data"
    data_dir = Path(env.get("FOSTERING_DATA_DIR", default_data))
    environment = env.get("FOSTERING_ENV", "development").strip().lower()
    key = env.get("FOSTERING_PSEUDONYM_KEY", "")
    if not key and environment != "production":
        key = DEVELOPMENT_PSEUDONYM_KEY
    return Settings(
        environment=environment,
        landing=Path(env.get("FOSTERING_LANDING", PROJECT_ROOT / "raw" / "sample")),
        warehouse=Path(env.get("FOSTERING_WAREHOUSE", data_dir / "warehouse.duckdb")),
        data_dir=data_dir,
        publish_dir=Path(env.get("FOSTERING_PUBLISH_DIR", data_dir / "published")),
        pseudonym_key=key,
        max_expanded_mb=int(env.get("FOSTERING_MAX_EXPANDED_MB", "200")),
        reference_dir=Path(env.get("FOSTERING_REFERENCE_DIR", PROJECT_ROOT / "dbt_project" / "seeds")),
        contracts_dir=Path(env.get("FOSTERING_CONTRACTS_DIR", Path(__file__).parent / "contracts")),
        expectations_dir=Path(env.get("FOSTERING_EXPECTATIONS_DIR", PROJECT_ROOT / "expectations")),
        publish_keep=int(env.get("FOSTERING_PUBLISH_KEEP", "5")),
        disclosure_threshold=int(env.get("FOSTERING_DISCLOSURE_THRESHOLD", "5")),
        swing_threshold=float(env.get("FOSTERING_SWING_THRESHOLD", "0.15")),
        places_tolerance=int(env.get("FOSTERING_PLACES_TOLERANCE", "2")),
        publish_cron=env.get("FOSTERING_PUBLISH_CRON", "0 6 20 * *"),
        status_cron=env.get("FOSTERING_STATUS_CRON", "0 7 * * *"),
        schedule_timezone=env.get("FOSTERING_TIMEZONE", "Europe/London"),
        run_wait_s=float(env.get("FOSTERING_RUN_WAIT_SECONDS", "600")),
        sensor_interval_s=int(env.get("FOSTERING_SENSOR_INTERVAL_SECONDS", "30")),
        first_period=env.get("FOSTERING_FIRST_PERIOD", "2016-04"),
        duckdb_memory_limit=env.get("FOSTERING_DUCKDB_MEMORY_LIMIT", "2GB"),
    )
