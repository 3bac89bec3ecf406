"""Trafford's real published monthly series, the one piece of the sample that is not synthetic.

For 2021-04 .. 2022-02 Trafford's mainstream recruitment funnel, carer exits,
approved households and children placed are taken from its published figures
(bundled as `orchestration/sample_data/trafford_2021_22_monthly.csv`); the
simulation is steered to reproduce them exactly and carries on from there.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

# The data folder stays beside the package (package data of `orchestration`).
SAMPLE_DATA = Path(__file__).resolve().parent.parent / "sample_data"
TRAFFORD_SERIES = SAMPLE_DATA / "trafford_2021_22_monthly.csv"
TRAFFORD_GSS = "E08000009"
# The real series starts here, so Trafford's simulation always does too.
TRAFFORD_START = "2021-04"


def trafford_series() -> pd.DataFrame:
    """Trafford's real monthly mainstream series, 2021-04 .. 2022-02 (bundled copy)."""
    frame = pd.read_csv(TRAFFORD_SERIES, dtype={"period": str})
    frame["period"] = frame["period"].astype(str)
    return frame
