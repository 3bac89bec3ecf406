"""Dagster resources: where the warehouse and landing folder are, and the pseudonymisation key.

They are built from the same environment variables as everything else
(`orchestration.settings`), and turn back into a `Settings` for the code that
does the work, so the CLI, the tests and Dagster all run the same functions.
"""

from __future__ import annotations

import dagster as dg

from orchestration.settings import Settings, load_settings


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file and the data folder (archive, findings) beside it."""

    path: str
    data_dir: str


class LandingResource(dg.ConfigurableResource):
    """The folder LAs' returns land in."""

    path: str


class PublishResource(dg.ConfigurableResource):
    """Where publishes go, how many old versions are kept, and the disclosure threshold."""

    path: str
    keep: int = 5
    disclosure_threshold: int = 5


class PseudonymKeyResource(dg.ConfigurableResource):
    """The secret key for pseudonymising identifiers, and whether this is production."""

    key: str
    environment: str = "development"


def settings_from(warehouse: WarehouseResource, landing: LandingResource, key: PseudonymKeyResource) -> Settings:
    return load_settings().with_overrides(
        warehouse=warehouse.path,
        data_dir=warehouse.data_dir,
        landing=landing.path,
        pseudonym_key=key.key,
        environment=key.environment,
    )


def default_resources(settings: Settings | None = None, with_dbt: bool = True) -> dict[str, dg.ConfigurableResource]:
    """Every resource the assets use; `with_dbt=False` for a run without dbt (the ingest), which
    then never imports dagster_dbt and dbt-core (about 3 s)."""
    from orchestration.dbt_project import dbt_cli

    settings = settings or load_settings()
    return {
        **({"dbt": dbt_cli()} if with_dbt else {}),
        "warehouse": WarehouseResource(path=str(settings.warehouse), data_dir=str(settings.data_dir)),
        "landing": LandingResource(path=str(settings.landing)),
        "publish": PublishResource(
            path=str(settings.publish_dir), keep=settings.publish_keep, disclosure_threshold=settings.disclosure_threshold
        ),
        "pseudonym_key": PseudonymKeyResource(key=settings.pseudonym_key, environment=settings.environment),
    }
