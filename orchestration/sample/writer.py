"""`generate()`: simulate each LA and write its monthly returns to disk.

This is the only module that knows about files: it checks the arguments,
picks the LAs and their return forms, runs one `LocalAuthority` simulation per
LA (`write_la`, one job per LA, in worker processes when asked) and writes
each month's tables (and the one resubmission) with the pipeline's own return
writer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from orchestration.parallel import ordered_map
from orchestration.returns.schema import load_contract
from orchestration.returns.writers import FORMS, write_return

from .las import MIXED_FORMS, RESUBMISSION, ordered_las, slug
from .simulation import LocalAuthority
from .trafford import TRAFFORD_GSS, TRAFFORD_START


@dataclass(frozen=True)
class LaJob:
    """One LA's returns to write: its simulation from `sim_start` and the months written."""

    la: pd.Series
    la_dir: Path
    seed: int
    sim_start: np.datetime64
    first: np.datetime64
    last: np.datetime64
    form: str
    trafford: bool = False
    resubmission: str | None = None  # the period whose first issue is corrected later


def generate(
    out: Path,
    las: int = 8,
    months: int = 30,
    seed: int = 1,
    start: str = "2021-04",
    with_trafford: bool = True,
    forms: str = "mixed",
    workers: int = 1,
) -> list[Path]:
    """Write synthetic monthly returns under `out`; return the paths written.

    Layout: `<out>/<la-slug>/<YYYY-MM>.zip` (or `.xlsx`, or a folder
    `<YYYY-MM>/` of CSV files), plus Bolton's 2022-06 resubmission at
    `<out>/bolton/resubmissions/2022-06-v2.<ext>` when that month is generated.
    `forms` is "mixed" (Bury and Reading XLSX, Wokingham folders, the rest ZIP)
    or one of "zip", "xlsx", "folder" for every return. `workers` > 1 simulates
    LAs in that many processes; the files are the same either way.
    """
    order = ordered_las()
    check_arguments(forms, start, months, las, available=len(order))
    first = np.datetime64(start, "M")
    last = first + months - 1
    jobs = []
    for _, la in order.head(las).iterrows():
        special = with_trafford and la["gss_code"] == TRAFFORD_GSS
        sim_start = np.datetime64(TRAFFORD_START, "M") if special else first
        if last < sim_start:
            continue  # Trafford's real series starts 2021-04: no return before it
        resubmitted = RESUBMISSION[1] if la["la_name"] == RESUBMISSION[0] else None
        form = forms if forms != "mixed" else MIXED_FORMS.get(la["la_name"], "zip")
        jobs.append(LaJob(la, Path(out) / slug(la["la_name"]), seed, sim_start, first, last, form, special, resubmitted))
    return write_all(jobs, workers)


def check_arguments(forms: str, start: str, months: int, las: int, available: int) -> None:
    if forms != "mixed" and forms not in FORMS:
        raise ValueError(f"unknown forms {forms!r}; expected 'mixed' or one of {', '.join(FORMS)}")
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", str(start)):
        raise ValueError(f"start must be a month as YYYY-MM, not {start!r}")
    if months < 1:
        raise ValueError("months must be at least 1")
    if las < 1:
        raise ValueError("las must be at least 1")
    if las > available:
        raise ValueError(
            f"las={las} but the LA reference list (local_authorities.csv) has only {available} LAs; "
            "add LAs to it to generate more, or use generate_national (`fostering sample --national`), "
            "which adds synthetic LAs"
        )


def write_all(jobs: list[LaJob], workers: int | None) -> list[Path]:
    """Run every job (in `workers` processes; None: one per core); the paths written, in job order."""
    return [path for paths in ordered_map(write_la, jobs, workers) for path in paths]


def write_la(job: LaJob) -> list[Path]:
    """Simulate one LA and write its returns for the months `job.first` .. `job.last`."""
    contract = load_contract("1.0")
    sim = LocalAuthority(job.la, job.seed, job.sim_start, job.last, trafford=job.trafford)
    sim.run()
    window = job.first + np.arange(int((job.last - job.first).astype(int)) + 1)
    written: list[Path] = []
    for month in window[window >= job.sim_start]:
        period = str(month)
        tables = sim.tables(month, contract)
        if period == job.resubmission:
            first_issue, corrected = sim.resubmission(tables)
            written.append(_write(first_issue, job.la_dir / period, job.form))
            written.append(_write(corrected, job.la_dir / "resubmissions" / f"{period}-v2", job.form))
        else:
            written.append(_write(tables, job.la_dir / period, job.form))
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
