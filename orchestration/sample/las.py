"""Which local authorities the sample covers, and how each of them submits.

The default sample is two regional fostering hubs of four LAs each; larger
samples take the rest of the reference list (`local_authorities.csv`) in file
order. The habits that make the sample realistic to ingest (XLSX and folder
returns, DfE 3-digit codes instead of GSS codes, late submitters, one
resubmission) are pinned to named LAs here.
"""

from __future__ import annotations

import re

import pandas as pd

from orchestration.reference import local_authorities

# The default sample: two hubs, four LAs each (the order within a hub matters:
# the LA list alternates between the hubs).
DEFAULT_HUBS = {
    "Greater Manchester": ["Bolton", "Bury", "Stockport", "Trafford"],
    "South East fostering hub": ["Medway", "Brighton and Hove", "Reading", "Wokingham"],
}
# Which LAs submit in which form when forms="mixed" (everyone else: ZIP).
MIXED_FORMS = {"Bury": "xlsx", "Reading": "xlsx", "Wokingham": "folder"}
# LAs that submit with their DfE 3-digit number rather than the GSS code.
DFE_CODE_LAS = {"Medway", "Reading"}
# LAs that are often late (after the 15th, the due date).
OFTEN_LATE_LAS = {"Bury", "Brighton and Hove"}
# The one resubmission of the default sample.
RESUBMISSION = ("Bolton", "2022-06")


def slug(name: str) -> str:
    """`Brighton and Hove` -> `brighton-and-hove` (folder names and e-mail domains)."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def ordered_las() -> pd.DataFrame:
    """Every LA in the reference list, in the order `generate(las=N)` takes them.

    First the default sample's two hubs, alternating (Bolton, Medway, Bury, ...),
    then the rest of local_authorities.csv in file order.
    """
    las = local_authorities().reset_index(drop=True)
    by_name = {name: i for i, name in enumerate(las["la_name"])}
    hubs = list(DEFAULT_HUBS.values())
    first = [name for group in zip(*hubs) for name in group]
    missing = [name for name in first if name not in by_name]
    if missing:
        raise ValueError(f"the LA reference list has no {', '.join(missing)}")
    order = [by_name[name] for name in first] + [i for i in range(len(las)) if las.at[i, "la_name"] not in first]
    return las.iloc[order].reset_index(drop=True)
