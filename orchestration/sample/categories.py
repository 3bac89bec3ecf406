"""What a placement is, and how the simulation draws one.

The twelve placement categories of the return spec (3.1), how common each is,
how often a placement in each ends or turns into a move, which
placement_type / placement_provider codes and weekly costs each carries, and
the functions that draw ages, categories, codes and costs for whole arrays of
children at once. Everything here is a table or a pure draw from a given
numpy Generator: no state of an LA.
"""

from __future__ import annotations

import numpy as np

from .days import day_number, month_bounds

CATS = (
    "foster_inhouse", "foster_connected", "foster_ifa", "foster_other_la",
    "residential_external", "residential_inhouse", "residential_school", "secure",
    "supported_accommodation", "placed_with_parents", "placed_for_adoption", "other",
)
INH, CON, IFA, OLA, REX, RIN, RSC, SEC, SUP, PWP, ADO, OTH = range(len(CATS))
FOSTER = (INH, CON, IFA, OLA)
RESIDENTIAL = (REX, RIN, RSC)

# Share of children looked after in each category at any one time (Rotherham's
# table in the reference README, rounded).
STOCK_MIX = np.array([0.38, 0.07, 0.25, 0.04, 0.09, 0.015, 0.01, 0.005, 0.04, 0.04, 0.04, 0.02])
# Monthly chance that a placement ends because the child leaves care ...
LEAVE = np.array([0.010, 0.022, 0.011, 0.011, 0.016, 0.016, 0.016, 0.030, 0.050, 0.055, 0.100, 0.050])
# ... and that it ends with a move to another placement (before the child's
# own instability is applied).
MOVE = np.array([0.010, 0.008, 0.014, 0.014, 0.030, 0.030, 0.020, 0.250, 0.020, 0.020, 0.004, 0.150])
# About one child in six is unsettled and moves far more often than the rest
# (about 10 % of children have 3 or more placements in 12 months).
UNSTABLE_SHARE = 0.17
UNSTABLE_FACTOR = 13.0
STABLE_FACTOR = 0.5
# Corrections for what the age bands and the in-house target do to the mix.
FLOW_TILT = np.array([1.0, 1.0, 0.85, 0.85, 1.0, 1.0, 1.0, 0.8, 1.8, 1.1, 0.9, 0.85])
# Mean age of a placement already open at the first simulated month, in days.
OPEN_DURATION = np.array([1000, 800, 700, 700, 330, 330, 500, 60, 220, 300, 150, 90])
# Age bands (years at the placement start) and how likely each category is in
# each band (0: impossible).
BAND_EDGES = np.array([5.0, 8.0, 12.0, 16.0])
AGE_TILT = np.array(
    [
        # INH  CON  IFA  OLA  REX  RIN  RSC  SEC  SUP  PWP  ADO  OTH
        [1.0, 1.1, 0.9, 0.8, 0.0, 0.0, 0.0, 0.0, 0.0, 1.4, 4.5, 0.5],  # 0-4
        [1.1, 1.1, 1.0, 1.0, 0.2, 0.2, 0.0, 0.0, 0.0, 1.2, 0.0, 0.4],  # 5-7
        [1.1, 1.0, 1.0, 1.0, 0.8, 0.8, 1.2, 0.0, 0.0, 0.8, 0.0, 0.5],  # 8-11
        [0.9, 0.9, 1.1, 1.1, 1.7, 1.7, 1.5, 2.5, 0.0, 0.6, 0.0, 1.0],  # 12-15
        [0.6, 0.7, 0.9, 1.0, 1.3, 1.3, 1.0, 2.0, 5.0, 0.4, 0.0, 1.5],  # 16-17
    ]
)
# Age of children looked after (stock) and of children entering care, by band
# of years: (from, to, share).
STOCK_AGES = ((0, 1, 0.05), (1, 5, 0.14), (5, 10, 0.19), (10, 16, 0.38), (16, 17.97, 0.24))
ENTRANT_AGES = ((0, 1, 0.20), (1, 5, 0.15), (5, 10, 0.15), (10, 16, 0.35), (16, 17.5, 0.15))
# Chance that a placement of each category is in the LA's own area.
IN_AREA = np.array([0.92, 0.78, 0.55, 0.20, 0.35, 0.95, 0.30, 0.10, 0.60, 0.85, 0.50, 0.50])

TYPES = (
    "U1", "U2", "U3", "U4", "U5", "U6", "K2", "R1", "S1", "K1", "K3", "H5", "P2",
    "P1", "A3", "A4", "A5", "A6", "R2", "R3", "R5", "Z1",
)
T = {code: i for i, code in enumerate(TYPES)}
PROVIDERS = ("PR0", "PR1", "PR2", "PR3", "PR4", "PR5")
FOSTER_TYPES = ((T["U4"], T["U5"], T["U6"]), (0.50, 0.05, 0.45))
# category: ((types, weights), (providers, weights))
CODES = {
    INH: (FOSTER_TYPES, ((1,), (1.0,))),
    CON: (((T["U1"], T["U2"], T["U3"]), (0.42, 0.04, 0.54)), ((1,), (1.0,))),
    IFA: (FOSTER_TYPES, ((4, 5), (0.8, 0.2))),
    OLA: (FOSTER_TYPES, ((2, 3), (0.85, 0.15))),
    REX: (((T["K2"], T["R1"]), (0.9, 0.1)), ((4, 5, 2), (0.85, 0.10, 0.05))),
    RIN: (((T["K2"], T["R1"]), (0.9, 0.1)), ((1,), (1.0,))),
    RSC: (((T["S1"],), (1.0,)), ((4, 5, 2), (0.6, 0.3, 0.1))),
    SEC: (((T["K1"],), (1.0,)), ((2, 4), (0.7, 0.3))),
    SUP: (((T["H5"], T["P2"]), (0.65, 0.35)), ((4, 1, 5), (0.6, 0.3, 0.1))),
    PWP: (((T["P1"],), (1.0,)), ((0,), (1.0,))),
    ADO: (((T["A3"], T["A4"], T["A5"], T["A6"]), (0.15, 0.40, 0.15, 0.30)), ((1, 5), (0.8, 0.2))),
    OTH: (((T["R2"], T["Z1"]), (0.4, 0.6)), ((3, 4), (0.5, 0.5))),
}
# H5 and P2 were retired after 2025-03: supported accommodation starting later
# is K3, and a still-open H5/P2 placement is reported as K3 from 2025-04.
SUPPORTED_RETIRED_AFTER = np.datetime64("2025-03", "M")

# Weekly cost per category: (kind, a, b, low, high) at 2021-04 prices; costs
# rise about 4 % a year for placements starting later.
COSTS = {
    INH: ("normal", 343, 42, 250, 450),
    CON: ("normal", 272, 32, 200, 350),
    IFA: ("normal", 877, 42, 800, 1000),
    OLA: ("uniform", 600, 800, 600, 800),
    REX: ("gamma", 2.0, 800, 3500, 7000),
    RIN: ("uniform", 2500, 4000, 2500, 4000),
    RSC: ("uniform", 2500, 5500, 2500, 5500),
    SEC: ("uniform", 6000, 9000, 6000, 9000),
    SUP: ("uniform", 800, 2000, 800, 2000),
    PWP: ("zero_or", 0.70, (50, 200), 0, 250),
    ADO: ("zero_or", 0.75, (150, 350), 0, 400),
    OTH: ("zero_or", 0.40, (200, 2500), 0, 2800),
}
COST_BASE_DAY = np.datetime64("2021-04-01", "D")


def draw_ages(rng: np.random.Generator, n: int, bands) -> np.ndarray:
    """Ages in days, drawn by band."""
    shares = np.array([b[2] for b in bands])
    which = rng.choice(len(bands), size=n, p=shares / shares.sum())
    low = np.array([b[0] for b in bands])[which]
    high = np.array([b[1] for b in bands])[which]
    return np.floor((low + rng.random(n) * (high - low)) * 365.25).astype(np.int64)


def draw_categories(rng: np.random.Generator, age: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """A category per child from `weights` (12 categories), tilted by age band."""
    band = np.digitize(age, BAND_EDGES)
    out = np.empty(len(age), dtype=np.int64)
    for b in range(len(AGE_TILT)):
        rows = np.flatnonzero(band == b)
        if rows.size:
            p = weights * AGE_TILT[b]
            out[rows] = rng.choice(len(CATS), size=rows.size, p=p / p.sum())
    return out


def draw_codes(rng: np.random.Generator, cat: np.ndarray, age: np.ndarray, start: np.ndarray):
    """placement_type and placement_provider for each placement of a category."""
    ptype = np.empty(len(cat), dtype=np.int64)
    prov = np.empty(len(cat), dtype=np.int64)
    for c, ((types, tw), (provs, pw)) in CODES.items():
        rows = np.flatnonzero(cat == c)
        if rows.size:
            ptype[rows] = rng.choice(np.array(types), size=rows.size, p=np.array(tw) / np.sum(tw))
            prov[rows] = rng.choice(np.array(provs), size=rows.size, p=np.array(pw) / np.sum(pw))
    # Other placements depend on age: a family centre for babies, custody for older teenagers.
    rows = np.flatnonzero(cat == OTH)
    if rows.size:
        baby = age[rows] < 2
        teen = age[rows] >= 15
        custody = teen & (rng.random(rows.size) < 0.4)
        ptype[rows[baby]] = T["R3"]
        prov[rows[baby]] = 4
        ptype[rows[custody]] = T["R5"]
        prov[rows[custody]] = 3
    # Supported accommodation starting after H5/P2 were retired is K3.
    _, last_supported = month_bounds(SUPPORTED_RETIRED_AFTER)
    late = (cat == SUP) & (start > last_supported)
    ptype[late] = T["K3"]
    return ptype, prov


def draw_costs(rng: np.random.Generator, cat: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Weekly cost of each placement, by category, at the prices of its start."""
    years = np.clip((start - day_number(COST_BASE_DAY)) / 365.25, 0, None)
    uplift = 1.04**years
    cost = np.zeros(len(cat))
    for c, (kind, a, b, low, high) in COSTS.items():
        rows = np.flatnonzero(cat == c)
        n = rows.size
        if not n:
            continue
        if kind == "normal":
            value = rng.normal(a, b, n)
        elif kind == "uniform":
            value = rng.uniform(a, b, n)
        elif kind == "gamma":
            value = low + rng.gamma(a, b, n)
        else:  # zero_or: often nothing, otherwise an allowance
            value = np.where(rng.random(n) < a, 0.0, rng.uniform(b[0], b[1], n))
        cost[rows] = np.clip(value * uplift[rows], low, high)
    return np.round(cost, 2)


