"""Day arithmetic for the simulation.

The simulation keeps every date as an integer: days since 1970-01-01. That
makes a month's placements a pair of integer comparisons and lets whole arrays
of children age, turn 18 and start placements at once. This module converts
between those integers and numpy dates and holds the few calendar rules the
sample needs (months, 18th birthdays, financial years).
"""

from __future__ import annotations

import numpy as np

OPEN = np.int64(2**62)  # placement_end of a placement still open
EPOCH = np.datetime64("1970-01-01", "D")


def day_number(value: np.datetime64) -> int:
    """A date as days since 1970-01-01."""
    return int((np.datetime64(value, "D") - EPOCH).astype(np.int64))


def month_bounds(month: np.datetime64) -> tuple[int, int]:
    """The first and the last day of a month, as day numbers."""
    first = day_number(month.astype("datetime64[D]"))
    last = day_number((month + 1).astype("datetime64[D]")) - 1
    return first, last


def to_dates(days: np.ndarray) -> np.ndarray:
    return EPOCH + days.astype("timedelta64[D]")


def eighteenth_birthday(dob: np.ndarray) -> np.ndarray:
    """The day each child turns 18 (dates of birth are never 29 February)."""
    dates = to_dates(dob)
    month = dates.astype("datetime64[M]")
    day_of_month = (dates - month.astype("datetime64[D]")).astype(np.int64)
    return ((month + 216).astype("datetime64[D]") - EPOCH).astype(np.int64) + day_of_month


def no_leap_day(dob: np.ndarray) -> np.ndarray:
    """Move 29 February births to the 28th, so every 18th birthday is unambiguous."""
    dates = to_dates(dob)
    month = dates.astype("datetime64[M]")
    leap = ((month.astype(np.int64) % 12) == 1) & ((dates - month.astype("datetime64[D]")).astype(np.int64) == 28)
    return np.where(leap, dob - 1, dob)


def age_years(dob: np.ndarray, day: np.ndarray | int) -> np.ndarray:
    return (np.asarray(day) - dob) / 365.25


def financial_year(month: np.datetime64) -> int:
    """The year a financial year (1 April .. 31 March) starts in."""
    index = int(month.astype(np.int64))  # months since 1970-01
    return 1970 + index // 12 - (1 if index % 12 < 3 else 0)


def child_day_key(child: np.ndarray, day: np.ndarray) -> np.ndarray:
    """One integer per (child, day) pair, for vectorised membership tests."""
    return child.astype(np.int64) * 1_000_000 + day.astype(np.int64)
