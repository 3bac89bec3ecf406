"""Reference data the pipeline loads: the LA list, placement categories, cost ranges.

They live in FOSTERING_REFERENCE_DIR (by default the dbt seeds folder), read
here as well so that validation at ingest and the marts use one copy of each
table. The LA list is read by dbt from the same folder
(models/reference/local_authorities.sql), so an operator's own list reaches
the ledger and the marts alike.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd

from orchestration.settings import load_settings


def _dir(reference_dir: Path | None) -> Path:
    return reference_dir or load_settings().reference_dir


@lru_cache(maxsize=None)
def _read(reference_dir: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(reference_dir / name, dtype=str, keep_default_na=False)


def local_authorities(reference_dir: Path | None = None) -> pd.DataFrame:
    """gss_code, dfe_code, la_name, region, hub, child_population_0_17."""
    return _read(_dir(reference_dir), "local_authorities.csv").copy()


def la_name(gss_code: str, reference_dir: Path | None = None) -> str | None:
    """The LA's name, from its GSS code; None for a code not on the list."""
    return _la_names(_dir(reference_dir)).get(gss_code)


@lru_cache(maxsize=None)
def _la_names(reference_dir: Path) -> dict[str, str]:
    las = _read(reference_dir, "local_authorities.csv")
    return dict(zip(las["gss_code"], las["la_name"]))


def placement_categories(reference_dir: Path | None = None) -> pd.DataFrame:
    """placement_type, placement_provider ('' = any provider), category, label, valid_until_period."""
    return _read(_dir(reference_dir), "placement_categories.csv").copy()


def cost_ranges(reference_dir: Path | None = None) -> pd.DataFrame:
    frame = _read(_dir(reference_dir), "cost_ranges.csv").copy()
    frame[["min_weekly_cost", "max_weekly_cost"]] = frame[["min_weekly_cost", "max_weekly_cost"]].astype(float)
    return frame


def placement_category_lookup(reference_dir: Path | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """"<placement_type>|<placement_provider>" -> category, and placement_type -> its any-provider category."""
    return _category_lookup(_dir(reference_dir))


@lru_cache(maxsize=None)
def _category_lookup(reference_dir: Path) -> tuple[dict[str, str], dict[str, str]]:
    mapping = placement_categories(reference_dir)
    specific = mapping[mapping["placement_provider"] != ""]
    general = mapping[mapping["placement_provider"] == ""].drop_duplicates("placement_type")
    return (
        dict(zip(specific["placement_type"] + "|" + specific["placement_provider"], specific["category"])),
        dict(zip(general["placement_type"], general["category"])),
    )


def placement_code_labels(reference_dir: Path | None = None) -> dict[str, str]:
    frame = placement_categories(reference_dir).drop_duplicates("placement_type")
    return dict(zip(frame["placement_type"], frame["label"]))


def gss_for(codes: pd.Series, reference_dir: Path | None = None) -> pd.Series:
    """The GSS code for each submitted LA code (GSS or DfE number); NaN where unknown."""
    las = local_authorities(reference_dir)
    lookup = pd.concat(
        [
            pd.Series(las["gss_code"].values, index=las["gss_code"].str.upper()),
            pd.Series(las["gss_code"].values, index=las["dfe_code"]),
        ]
    )
    return codes.astype(str).str.strip().str.upper().map(lookup)
