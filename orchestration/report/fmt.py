"""How figures and months are written in the report (one place, so every page agrees).

Every value shown comes through `show`: a withheld cell reads "withheld", a missing
figure (nothing to compute it from) reads "–", anything else is formatted by its kind.
"""

from __future__ import annotations

import math

import pandas as pd

WITHHELD_TEXT = "withheld"
MISSING_TEXT = "–"
MINUS = "−"  # a real minus sign: easier to read than a hyphen

KINDS = ("count", "ratio", "money", "money_signed", "money_k", "rate", "number")


def is_missing(value) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float):  # most figures: the NaN test without pandas' (slower) one
        return value != value
    if isinstance(value, (int, str)):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def count(value) -> str:
    return _signed(f"{abs(int(round(float(value)))):,}", value)


def ratio(value) -> str:
    """A 0-1 fraction as a percentage with one decimal (stage rates may pass 100%)."""
    return _signed(f"{abs(float(value)) * 100:.1f}%", value)


def money(value) -> str:
    """GBP to the pound."""
    return _signed(f"£{abs(float(value)):,.0f}", value)


def money_short(value) -> str:
    """GBP in thousands or millions, for axes and labels."""
    v = abs(float(value))
    if v >= 1e6:
        text = f"£{v / 1e6:.1f}m"
    elif v >= 1e3:
        text = f"£{v / 1e3:.0f}k"
    else:
        text = f"£{v:.0f}"
    return _signed(text, value)


def money_signed(value) -> str:
    """GBP to the pound with its sign: +£1,200 over, −£300 under."""
    text = money(value)
    return text if text.startswith(MINUS) or float(value) == 0 else f"+{text}"


def rate(value) -> str:
    """A rate per 10,000 children, one decimal."""
    return _signed(f"{abs(float(value)):.1f}", value)


def number(value) -> str:
    return _signed(f"{abs(float(value)):,.1f}", value)


FORMATS = {"count": count, "ratio": ratio, "money": money, "money_signed": money_signed, "money_k": money_short, "rate": rate,
           "number": number}


def show(value, kind: str, withheld: bool = False) -> str:
    if withheld:
        return WITHHELD_TEXT
    if is_missing(value):
        return MISSING_TEXT
    return FORMATS[kind](value)


def tick(value: float, kind: str) -> str:
    """An axis tick: as few digits as the ticks need."""
    if kind == "ratio":
        v = float(value) * 100
        return _signed(f"{abs(v):.0f}%" if abs(v - round(v)) < 1e-9 else f"{abs(v):.1f}%", value)
    if kind.startswith("money"):
        return money(value) if abs(value) < 100_000 else money_short(value)
    if abs(value - round(value)) < 1e-9:
        return _signed(f"{abs(int(round(value))):,}", value)
    return _signed(f"{abs(value):,.1f}", value)


def _signed(text: str, value) -> str:
    v = float(value)
    return f"{MINUS}{text}" if v < 0 and not math.isclose(v, 0.0, abs_tol=1e-12) else text


_MONTHS: dict = {}  # period -> "Sep 2023": a report writes the same few dozen months tens of thousands of times


def month(period: pd.Timestamp) -> str:
    """Sep 2023."""
    try:
        return _MONTHS[period]
    except KeyError:
        text = _MONTHS[period] = pd.Timestamp(period).strftime("%b %Y")
        return text
    except TypeError:  # not hashable
        return pd.Timestamp(period).strftime("%b %Y")


def month_short(period: pd.Timestamp) -> str:
    return pd.Timestamp(period).strftime("%b %y")


def span(first: pd.Timestamp, last: pd.Timestamp) -> str:
    """Apr 2021 to Sep 2023 (or one month)."""
    return month(first) if pd.Timestamp(first) == pd.Timestamp(last) else f"{month(first)} to {month(last)}"


def financial_year(period: pd.Timestamp) -> str:
    """2023/24 for any month from April 2023 to March 2024."""
    p = pd.Timestamp(period)
    start = p.year if p.month >= 4 else p.year - 1
    return f"{start}/{str(start + 1)[-2:]}"
