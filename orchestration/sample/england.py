"""An England-sized LA reference list: the real LAs of the reference list, and synthetic ones between them.

The bundled reference list (`local_authorities.csv`) holds 24 real LAs;
England has about 150. `england_las(n)` keeps every real LA and fills the
rest with synthetic ones: GSS codes `E98xxxxxx` and DfE numbers `9xxx`
(neither is ever a real LA's), names "Synthetic 001", ..., spread over the
English regions in proportion to their real number of LAs. The real LAs are
spread evenly through the list, so the first 75 LAs are a fair half of the
first 150, and the first `k` LAs are the same whatever `n` is.

A synthetic LA's 0-17 population is drawn once (from a generator keyed by
its number, not by the run's seed), then scaled so that every block of 75
LAs has the same mean population: about 550 placements per monthly return
on average, England's ~83,000 children looked after over ~150 LAs, in the
first 75 LAs as in the first 150. Returns from synthetic LAs only validate
against this list: `write_reference()` writes it, beside copies of the other
reference tables, for `FOSTERING_REFERENCE_DIR`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from orchestration.settings import load_settings

from .las import ordered_las

NATIONAL_LAS = 150
SYNTHETIC_GSS_PREFIX = "E98"
# Upper-tier LAs per English region (2023): where the synthetic LAs go.
REGION_LAS = {
    "North East": 12, "North West": 24, "Yorkshire and The Humber": 15, "East Midlands": 10,
    "West Midlands": 14, "East of England": 11, "London": 33, "South East": 19, "South West": 15,
}
# Every block of BLOCK LAs has this mean 0-17 population (calibrated: about 550
# placements per return, with the simulation's 62-95 children looked after per 10,000).
BLOCK = NATIONAL_LAS // 2
MEAN_POPULATION = 61_500
POPULATION_SIGMA = 0.5  # lognormal spread of the synthetic LAs' populations, before scaling
POPULATION_KEY = 6  # the generator of a synthetic LA's population: [POPULATION_KEY, its number]
COLUMNS = ["gss_code", "dfe_code", "la_name", "region", "hub", "child_population_0_17"]


def england_las(n: int = NATIONAL_LAS) -> pd.DataFrame:
    """The first `n` LAs of the England-sized list, in generation order (columns as local_authorities.csv)."""
    real = ordered_las()
    real = real[~real["gss_code"].str.startswith(SYNTHETIC_GSS_PREFIX)].reset_index(drop=True)
    real_at = {int(r * NATIONAL_LAS / len(real)): r for r in range(len(real))}
    slots = _region_slots(real["region"])
    rows, synthetic = [], 0
    for position in range(-(-n // BLOCK) * BLOCK):  # whole blocks, so that each can be scaled
        if position in real_at:
            rows.append(real.loc[real_at[position], COLUMNS].to_dict() | {"synthetic": False})
        else:
            synthetic += 1
            rows.append(_synthetic(synthetic, slots[(synthetic - 1) % len(slots)]))
    frame = pd.DataFrame(rows)
    frame["child_population_0_17"] = _scaled_populations(frame)
    return frame.head(n)[COLUMNS].reset_index(drop=True)


def write_reference(folder: Path, las: pd.DataFrame, source: Path | None = None) -> Path:
    """A reference folder for `las`: the other tables copied from `source` (the pipeline's), this LA list."""
    source = source or load_settings().reference_dir
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for table in sorted(source.glob("*.csv")):
        if table.name != "local_authorities.csv":
            shutil.copyfile(table, folder / table.name)
    las[COLUMNS].to_csv(folder / "local_authorities.csv", index=False)
    return folder


def _region_slots(real_regions: pd.Series) -> list[str]:
    """Each region once for every synthetic LA it still needs, interleaved (London every few places)."""
    taken = real_regions.value_counts()
    slots = []
    for region, total in REGION_LAS.items():
        need = max(total - int(taken.get(region, 0)), 0)
        slots += [((i + 0.5) / need, region) for i in range(need)]
    return [region for _, region in sorted(slots, key=lambda s: s[0])]


def _synthetic(number: int, region: str) -> dict:
    rng = np.random.default_rng([POPULATION_KEY, number])
    return {
        "gss_code": f"{SYNTHETIC_GSS_PREFIX}{number:06d}",
        "dfe_code": str(9000 + number),
        "la_name": f"Synthetic {number:03d}",
        "region": region,
        "hub": f"{region} (synthetic)",
        "child_population_0_17": rng.lognormal(0.0, POPULATION_SIGMA),  # relative, scaled by block
        "synthetic": True,
    }


def _scaled_populations(frame: pd.DataFrame) -> pd.Series:
    """Synthetic LAs' populations scaled so that each block of BLOCK LAs has MEAN_POPULATION on average."""
    population = frame["child_population_0_17"].astype(float)
    block = np.arange(len(frame)) // BLOCK
    real_total = population.where(~frame["synthetic"], 0).groupby(block).transform("sum")
    relative_total = population.where(frame["synthetic"], 0).groupby(block).transform("sum")
    scaled = population * (BLOCK * MEAN_POPULATION - real_total) / relative_total
    synthetic = np.clip(np.round(scaled, -3), 8_000, 300_000).astype(int).astype(str)
    return frame["child_population_0_17"].where(~frame["synthetic"], synthetic).astype(str)
