"""`generate()`: simulate each LA in turn and write its monthly returns to disk.

This is the only module that knows about files: it checks the arguments,
picks the LAs and their return forms, runs one `LocalAuthority` simulation per
LA and writes each month's tables (and the one resubmission) with the
pipeline's own return writer.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from orchestration.returns.schema import load_contract
from orchestration.returns.writers import FORMS, write_return

from .las import MIXED_FORMS, RESUBMISSION, ordered_las, slug
from .simulation import LocalAuthority
from .trafford import TRAFFORD_GSS, TRAFFORD_START


def generate(
    out: Path,
    las: int = 8,
    months: int = 30,
    seed: int = 1,
    start: str = "2021-04",
    with_trafford: bool = True,
    forms: str = "mixed",
) -> list[Path]:
    """Write synthetic monthly returns under `out`; return the paths written.

    Layout: `<out>/<la-slug>/<YYYY-MM>.zip` (or `.xlsx`, or a folder
    `<YYYY-MM>/` of CSV files), plus Bolton's 2022-06 resubmission at
    `<out>/bolton/resubmissions/2022-06-v2.<ext>` when that month is generated.
    `forms` is "mixed" (Bury and Reading XLSX, Wokingham folders, the rest ZIP)
    or one of "zip", "xlsx", "folder" for every return.
    """
    out = Path(out)
    if forms != "mixed" and forms not in FORMS:
        raise ValueError(f"unknown forms {forms!r}; expected 'mixed' or one of {', '.join(FORMS)}")
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", str(start)):
        raise ValueError(f"start must be a month as YYYY-MM, not {start!r}")
    if months < 1:
        raise ValueError("months must be at least 1")
    order = ordered_las()
    if las < 1:
        raise ValueError("las must be at least 1")
    if las > len(order):
        raise ValueError(
            f"las={las} but the LA reference list (local_authorities.csv) has only {len(order)} LAs; "
            "add LAs to it to generate more"
        )
    first = np.datetime64(start, "M")
    window = first + np.arange(months)
    contract = load_contract("1.0")

    written: list[Path] = []
    for _, la in order.head(las).iterrows():
        special = with_trafford and la["gss_code"] == TRAFFORD_GSS
        sim_start = np.datetime64(TRAFFORD_START, "M") if special else first
        if window[-1] < sim_start:
            continue  # Trafford's real series starts 2021-04: no return before it
        sim = LocalAuthority(la, seed, sim_start, window[-1], trafford=special)
        sim.run()
        form = forms if forms != "mixed" else MIXED_FORMS.get(la["la_name"], "zip")
        la_dir = out / slug(la["la_name"])
        for month in window[window >= sim_start]:
            period = str(month)
            tables = sim.tables(month, contract)
            if (la["la_name"], period) == RESUBMISSION:
                first_issue, corrected = sim.resubmission(tables)
                written.append(_write(first_issue, la_dir / period, form))
                written.append(_write(corrected, la_dir / "resubmissions" / f"{period}-v2", form))
            else:
                written.append(_write(tables, la_dir / period, form))
    return written


def _write(tables: dict[str, pd.DataFrame], stem: Path, form: str) -> Path:
    path = stem if form == "folder" else stem.with_name(f"{stem.name}.{form}")
    if form != "xlsx":
        # CSV keeps the time of day only as text (the writer formats datetimes as dates).
        tables = dict(tables)
        submission = tables["submission"].copy()
        submission["submitted_at"] = submission["submitted_at"].dt.strftime("%Y-%m-%d %H:%M:%S")
        tables["submission"] = submission
    return write_return(tables, path, form)
