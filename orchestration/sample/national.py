"""`generate_national()`: an England-sized history of monthly returns, for measuring the pipeline at scale.

The same simulation and writer as the bundled sample (`writer.write_la`),
over the England-sized LA list (`england.england_las`): by default 150 LAs x
120 months from 2016-04, about 550 placements per return, every return in
one form. No LA uses Trafford's real series (it starts in 2021) and there is
no resubmission, so the history is exactly LAs x months returns. LAs are
simulated in worker processes (`orchestration.parallel`), one job per LA;
the files are the same whatever the number of workers.

The history's LA reference list is written to `<out>/.reference/` (a
dot-folder, which a landing folder scan passes over): validate or ingest the
history with `FOSTERING_REFERENCE_DIR=<out>/.reference`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .england import NATIONAL_LAS, england_las, write_reference
from .las import slug
from .writer import LaJob, check_arguments, write_all

REFERENCE_FOLDER = ".reference"
NATIONAL_START = "2016-04"
NATIONAL_MONTHS = 120


def generate_national(
    out: Path,
    las: int = NATIONAL_LAS,
    months: int = NATIONAL_MONTHS,
    seed: int = 1,
    start: str = NATIONAL_START,
    forms: str = "folder",
    workers: int | None = None,
) -> list[Path]:
    """Write the England-sized history under `out` (`<out>/<la-slug>/<YYYY-MM>[.zip|.xlsx]`); return the paths."""
    if forms == "mixed":
        raise ValueError("a national history is in one form: zip, xlsx or folder")
    check_arguments(forms, start, months, las, available=las)
    out = Path(out)
    reference = england_las(las)
    write_reference(out / REFERENCE_FOLDER, reference)
    first = np.datetime64(start, "M")
    last = first + months - 1
    jobs = [
        LaJob(la, out / slug(la["la_name"]), seed, first, first, last, forms)
        for _, la in reference.iterrows()
    ]
    return write_all(jobs, workers)
