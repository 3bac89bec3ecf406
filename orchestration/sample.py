"""A deterministic generator of synthetic, realistic monthly fostering returns.

`generate(Path("raw/sample"))` writes the bundled sample: 8 LAs from two
regional fostering hubs, 30 months (2021-04 .. 2023-09), in all three return
forms, with one resubmission. Every rule of the return contract holds in every
return, and the returns agree with each other over time:

- children are simulated one placement at a time, month by month (endings,
  moves, leaving care at 18, new entrants drawn as whole arrays), so a
  month's `placements` table is every placement open at some time in that month
  and an ended placement never comes back;
- mainstream households reconcile every month (stock = previous stock +
  approvals - deregistrations) and `places_filled` is exactly the number of
  in-house mainstream foster placements (U4-U6 with PR1) open at month end;
  connected households likewise against U1-U3 placements;
- `withdrawals` add up to `recruitment.applications_withdrawn`, requests add up,
  places add up, finance actuals follow the placements' weekly costs;
- Trafford's mainstream recruitment and households for 2021-04 .. 2022-02 are
  its real published series (`sample_data/trafford_2021_22_monthly.csv`).

Only a seeded numpy Generator is used (one stream per LA, keyed by its code),
never the clock, so the same arguments give byte-identical files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from orchestration.reference import local_authorities
from orchestration.returns.schema import load_contract
from orchestration.returns.writers import FORMS, write_return

SAMPLE_DATA = Path(__file__).resolve().parent / "sample_data"
TRAFFORD_SERIES = SAMPLE_DATA / "trafford_2021_22_monthly.csv"
TRAFFORD_GSS = "E08000009"

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

OPEN = np.int64(2**62)  # placement_end of a placement still open
EPOCH = np.datetime64("1970-01-01", "D")

# ---------------------------------------------------------------------------
# Placement categories (return spec 3.1) and how children move between them.
# ---------------------------------------------------------------------------
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

# Reason codes (contract code lists), with how often each is used.
DEREG_REASONS = ("DER1", "DER2", "DER3", "DER4", "DER5", "DER6")
DEREG_MAINSTREAM_P = np.array([0.14, 0.07, 0.68, 0.02, 0.01, 0.08])
WITHDRAWAL_REASONS = ("AW1", "AW2", "AW3", "AW4", "AW5", "AW0")
WITHDRAWAL_P = np.array([0.20, 0.12, 0.33, 0.10, 0.08, 0.17])
NEED_CATEGORIES = (
    "teenager", "sibling_group", "disability", "parent_and_child", "uasc", "step_down", "emergency", "general",
)
COST_LINES = (
    "fostering_allowances", "ifa_fees", "residential_fees", "connected_carer_allowances",
    "fostering_staff", "fostering_other",
)
# Seasonality of foster-carer enquiries by calendar month (Jan .. Dec).
ENQUIRY_SEASON = np.array([1.25, 1.10, 1.05, 0.95, 1.00, 0.90, 0.85, 0.80, 1.10, 1.05, 0.95, 0.75])
# Rotherham's fostering service: 23.4 FTE, GBP 1.13 m a year, for 55,000 children.
STAFF_COST_PER_CHILD_POP = 1_130_000 / 55_000


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------
def trafford_series() -> pd.DataFrame:
    """Trafford's real monthly mainstream series, 2021-04 .. 2022-02 (bundled copy)."""
    frame = pd.read_csv(TRAFFORD_SERIES, dtype={"period": str})
    frame["period"] = frame["period"].astype(str)
    return frame


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
        sim_start = np.datetime64("2021-04", "M") if special else first
        if window[-1] < sim_start:
            continue  # Trafford's real series starts 2021-04: no return before it
        sim = _LocalAuthority(la, seed, sim_start, window[-1], trafford=special)
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


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------
def _day(value: np.datetime64) -> int:
    return int((np.datetime64(value, "D") - EPOCH).astype(np.int64))


def _month_bounds(month: np.datetime64) -> tuple[int, int]:
    first = _day(month.astype("datetime64[D]"))
    last = _day((month + 1).astype("datetime64[D]")) - 1
    return first, last


def _to_dates(days: np.ndarray) -> np.ndarray:
    return EPOCH + days.astype("timedelta64[D]")


def _eighteenth_birthday(dob: np.ndarray) -> np.ndarray:
    """The day each child turns 18 (dates of birth are never 29 February)."""
    dates = _to_dates(dob)
    month = dates.astype("datetime64[M]")
    day_of_month = (dates - month.astype("datetime64[D]")).astype(np.int64)
    return ((month + 216).astype("datetime64[D]") - EPOCH).astype(np.int64) + day_of_month


def _no_leap_day(dob: np.ndarray) -> np.ndarray:
    """Move 29 February births to the 28th, so every 18th birthday is unambiguous."""
    dates = _to_dates(dob)
    month = dates.astype("datetime64[M]")
    leap = ((month.astype(np.int64) % 12) == 1) & ((dates - month.astype("datetime64[D]")).astype(np.int64) == 28)
    return np.where(leap, dob - 1, dob)


def _age_years(dob: np.ndarray, day: np.ndarray | int) -> np.ndarray:
    return (np.asarray(day) - dob) / 365.25


def _financial_year(month: np.datetime64) -> int:
    """The year a financial year (1 April .. 31 March) starts in."""
    index = int(month.astype(np.int64))  # months since 1970-01
    return 1970 + index // 12 - (1 if index % 12 < 3 else 0)


def _child_day_key(child: np.ndarray, day: np.ndarray) -> np.ndarray:
    """One integer per (child, day) pair, for vectorised membership tests."""
    return child.astype(np.int64) * 1_000_000 + day.astype(np.int64)


def _sround(acc: float, rng: np.random.Generator) -> tuple[int, float]:
    """Stochastic rounding with carry: the running total stays within 1 of the expected one."""
    n = max(int(np.floor(acc + rng.random())), 0)
    return n, acc - n


def _draw_ages(rng: np.random.Generator, n: int, bands) -> np.ndarray:
    """Ages in days, drawn by band."""
    shares = np.array([b[2] for b in bands])
    which = rng.choice(len(bands), size=n, p=shares / shares.sum())
    low = np.array([b[0] for b in bands])[which]
    high = np.array([b[1] for b in bands])[which]
    return np.floor((low + rng.random(n) * (high - low)) * 365.25).astype(np.int64)


def _draw_categories(rng: np.random.Generator, age: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """A category per child from `weights` (12 categories), tilted by age band."""
    band = np.digitize(age, BAND_EDGES)
    out = np.empty(len(age), dtype=np.int64)
    for b in range(len(AGE_TILT)):
        rows = np.flatnonzero(band == b)
        if rows.size:
            p = weights * AGE_TILT[b]
            out[rows] = rng.choice(len(CATS), size=rows.size, p=p / p.sum())
    return out


def _draw_codes(rng: np.random.Generator, cat: np.ndarray, age: np.ndarray, start: np.ndarray):
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
    late = (cat == SUP) & (start > _day((SUPPORTED_RETIRED_AFTER + 1).astype("datetime64[D]")) - 1)
    ptype[late] = T["K3"]
    return ptype, prov


def _draw_costs(rng: np.random.Generator, cat: np.ndarray, start: np.ndarray) -> np.ndarray:
    years = np.clip((start - _day(COST_BASE_DAY)) / 365.25, 0, None)
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


# ---------------------------------------------------------------------------
# One LA, simulated month by month
# ---------------------------------------------------------------------------
@dataclass
class _Month:
    """What the simulation decided for one month (besides the placements)."""

    period: np.datetime64
    recruitment: dict[str, dict[str, int]] = field(default_factory=dict)
    households: dict[str, dict[str, int]] = field(default_factory=dict)
    deregistrations: dict[str, np.ndarray] = field(default_factory=dict)  # households by reason
    withdrawals: dict[str, np.ndarray] = field(default_factory=dict)  # applications by reason
    requests: pd.DataFrame | None = None
    submitted_at: pd.Timestamp | None = None


class _LocalAuthority:
    """The children, placements and carers of one LA, from `start` to `end` (months)."""

    def __init__(self, la: pd.Series, seed: int, start: np.datetime64, end: np.datetime64, trafford: bool = False):
        self.la = la
        self.name = str(la["la_name"])
        self.gss = str(la["gss_code"])
        self.trafford = trafford
        self.rng = np.random.default_rng([int(seed), int(self.gss[1:]), 1 if trafford else 0])
        self.months = start + np.arange(int((end - start).astype(int)) + 1)
        self.population = int(la["child_population_0_17"])
        self.prefix = re.sub(r"[^A-Z]", "", self.name.upper())[:3]
        self.la_code = str(la["dfe_code"]) if self.name in DFE_CODE_LAS else self.gss
        self.email = f"fostering.data@{slug(self.name)}.gov.uk"
        self.series = trafford_series().set_index("period") if trafford else None
        self.history: dict[str, _Month] = {}
        self._params()

    # -- parameters --------------------------------------------------------
    def _params(self) -> None:
        rng = self.rng
        size = self.population / 55_000
        self.cla_rate = 68.0 if self.trafford else rng.uniform(62, 95)  # per 10,000 children
        self.inhouse_share = rng.uniform(0.37, 0.41)
        self.unstable_share = UNSTABLE_SHARE
        self.cap_mean = rng.uniform(1.30, 1.45)  # approved places per household
        self.fill_mean = 0.72 if self.trafford else rng.uniform(0.62, 0.72)
        self.unavailable_share = rng.uniform(0.42, 0.52)  # of the places not filled
        self.on_hold_rate = rng.uniform(0.02, 0.05)
        south_east = self.la["hub"] == "South East fostering hub"
        self.uasc_rate = 0.35 if self.name == "Kent" else (0.22 if south_east else 0.12)  # of entrants aged 14+
        # Recruitment funnel (mainstream): noisy enquiries, steady later stages.
        self.enquiry_mean = (20.0 if self.trafford else 20.0 * size**0.8 * rng.uniform(0.85, 1.2))
        self.visit_rate = rng.uniform(0.14, 0.19)
        self.application_rate = rng.uniform(0.40, 0.48)
        self.completion_rate = 0.25  # of assessments in progress, per month
        self.approval_share = 0.85  # of completed assessments
        self.early_withdrawal = 0.02
        self.approvals_mean = self.enquiry_mean * self.visit_rate * self.application_rate * 0.78
        # Connected carers: enquiries are viability assessments.
        self.connected_conversion = rng.uniform(0.055, 0.08)
        self.connected_visit_rate = rng.uniform(0.15, 0.20)
        self.connected_application_rate = rng.uniform(0.40, 0.50)
        # Submission habits.
        self.late_rate = 0.35 if self.name in OFTEN_LATE_LAS else 0.04
        # Finance: the service's staff and other costs, and how each line's budget was set.
        self.staff_month = STAFF_COST_PER_CHILD_POP * self.population / 12 * rng.uniform(0.9, 1.1)
        self.other_share = rng.uniform(0.18, 0.30)
        self.budget_factor = {
            "fostering_allowances": (0.97, 1.05),
            "ifa_fees": (0.72, 0.85),  # IFA fees overspend
            "residential_fees": (0.80, 0.95),
            "connected_carer_allowances": (0.90, 1.05),
            "fostering_staff": (0.98, 1.03),
            "fostering_other": (0.90, 1.15),
        }

    # -- storage -----------------------------------------------------------
    def _new_children(self, dob: np.ndarray, uasc: np.ndarray) -> np.ndarray:
        rng = self.rng
        n = len(dob)
        dob = _no_leap_day(dob)
        first = len(self.dob)
        numbers = self.next_child + np.cumsum(rng.integers(1, 30, n))
        self.next_child = int(numbers[-1]) if n else self.next_child
        sib = rng.choice([1, 2, 3, 4], size=n, p=[0.70, 0.19, 0.08, 0.03])
        sib = np.where(uasc, 1, sib)
        self.child_number = np.concatenate([self.child_number, numbers])
        self.dob = np.concatenate([self.dob, dob])
        self.b18 = np.concatenate([self.b18, _eighteenth_birthday(dob)])
        self.uasc = np.concatenate([self.uasc, uasc])
        self.disability = np.concatenate([self.disability, rng.random(n) < 0.08])
        self.sibling = np.concatenate([self.sibling, sib])
        self.unstable = np.concatenate([self.unstable, rng.random(n) < self.unstable_share])
        return np.arange(first, first + n)

    def _add_placements(self, child, cat, start, prev_cat) -> np.ndarray:
        """Append placements (codes, costs and area drawn here); return their indices."""
        rng = self.rng
        n = len(child)
        age = _age_years(self.dob[child], start)
        ptype, prov = _draw_codes(rng, cat, age, start)
        first = len(self.p_child)
        self.p_child = np.concatenate([self.p_child, child])
        self.p_cat = np.concatenate([self.p_cat, cat])
        self.p_type = np.concatenate([self.p_type, ptype])
        self.p_prov = np.concatenate([self.p_prov, prov])
        self.p_start = np.concatenate([self.p_start, start])
        self.p_end = np.concatenate([self.p_end, np.full(n, OPEN)])
        self.p_in_area = np.concatenate([self.p_in_area, rng.random(n) < IN_AREA[cat]])
        self.p_cost = np.concatenate([self.p_cost, _draw_costs(rng, cat, start)])
        self.p_hh = np.concatenate([self.p_hh, np.full(n, -1, dtype=np.int64)])
        self.p_prev = np.concatenate([self.p_prev, prev_cat])
        return np.arange(first, first + n)

    def _new_households(self, n: int, mainstream: bool) -> np.ndarray:
        numbers = np.arange(self.next_hh, self.next_hh + n)
        self.next_hh += n
        caps = self.rng.choice([1, 2, 3], size=n, p=self._cap_p) if mainstream else np.zeros(n, dtype=np.int64)
        self.hh_cap = np.concatenate([self.hh_cap, caps])
        self.hh_active = np.concatenate([self.hh_active, np.full(n, mainstream)])
        return numbers

    @property
    def _cap_p(self) -> np.ndarray:
        # 1, 2 or 3 places with mean cap_mean: p3 fixed small, p2 solves the mean.
        p3 = 0.05
        p2 = self.cap_mean - 1 - 2 * p3
        return np.array([1 - p2 - p3, p2, p3])

    def _occupancy(self, open_at: int) -> np.ndarray:
        """Children per mainstream household in in-house placements open at the end of day `open_at`."""
        rows = (self.p_cat == INH) & (self.p_hh >= 0) & (self.p_start <= open_at) & (self.p_end > open_at)
        return np.bincount(self.p_hh[rows], minlength=self.next_hh)

    # -- the first month's state -------------------------------------------
    def _initial_state(self) -> None:
        rng = self.rng
        first_day, _ = _month_bounds(self.months[0])
        self.child_number = np.zeros(0, dtype=np.int64)
        self.dob = np.zeros(0, dtype=np.int64)
        self.b18 = np.zeros(0, dtype=np.int64)
        self.uasc = np.zeros(0, dtype=bool)
        self.disability = np.zeros(0, dtype=bool)
        self.sibling = np.zeros(0, dtype=np.int64)
        self.unstable = np.zeros(0, dtype=bool)
        self.next_child = int(rng.integers(100_000, 300_000))
        for name in ("p_child", "p_cat", "p_type", "p_prov", "p_start", "p_end", "p_hh", "p_prev"):
            setattr(self, name, np.zeros(0, dtype=np.int64))
        self.p_in_area = np.zeros(0, dtype=bool)
        self.p_cost = np.zeros(0)
        # Households are numbered from a shared counter and indexed by number
        # (the numbers below the first are simply never used).
        self.next_hh = int(rng.integers(1, 60))
        self.hh_cap = np.zeros(self.next_hh, dtype=np.int64)
        self.hh_active = np.zeros(self.next_hh, dtype=bool)

        n = int(round(self.population * self.cla_rate / 10_000))
        age_days = np.minimum(_draw_ages(rng, n, STOCK_AGES), int(18 * 365.25) - 3)
        age = age_days / 365.25
        if self.trafford:
            inhouse = int(self.series["children_placed"].iloc[0])
            self.inhouse_share = inhouse / n
        else:
            inhouse = int(round(self.inhouse_share * n))
        cat = _draw_categories(rng, age, np.where(np.arange(len(CATS)) == INH, 0.0, STOCK_MIX))
        cat[rng.choice(n, size=inhouse, replace=False)] = INH
        # Some of the placements open now started years ago.
        elapsed = np.floor(rng.exponential(OPEN_DURATION[cat])).astype(np.int64)
        min_age_days = np.where(cat == SUP, int(16 * 365.25), 0)
        elapsed = np.clip(elapsed, 0, np.maximum(age_days - min_age_days, 0))
        start = first_day - 1 - elapsed
        dob = first_day - age_days
        uasc = (age >= 14) & (rng.random(n) < self.uasc_rate * 0.6)
        children = self._new_children(dob, uasc)
        # Dates of birth moved off 29 February must still be on or before the start.
        start = np.maximum(start, self.dob[children])
        placed = self._add_placements(children, cat, start, np.full(n, -1))
        # A placement that has lasted two years is usually a long-term one by now.
        settled = placed[(start < first_day - 730) & (rng.random(n) < 0.8)]
        self.p_type[settled[self.p_type[settled] == T["U6"]]] = T["U4"]
        self.p_type[settled[self.p_type[settled] == T["U3"]]] = T["U1"]

        # Mainstream households: enough places for the in-house children at the fill rate.
        if self.trafford:
            s = self.series.iloc[0]
            households = int(s["approved_households"] - s["approvals"] + s["carer_exits"])
        else:
            households = int(round(inhouse / (self.fill_mean * self.cap_mean)))
        numbers = self._new_households(households, mainstream=True)
        # Exactly cap_mean places per household to begin with.
        short = int(round(households * self.cap_mean)) - int(self.hh_cap[numbers].sum())
        can = numbers[self.hh_cap[numbers] < 3] if short > 0 else numbers[self.hh_cap[numbers] > 1]
        change = rng.choice(can, size=min(abs(short), len(can)), replace=False)
        self.hh_cap[change] += np.sign(short)
        self._ensure_places(inhouse + 3)
        self.fill = inhouse / self.hh_cap[self.hh_active].sum()
        self._house(placed[cat == INH], first_day - 1)
        # Connected carers: one household per connected placement.
        connected = placed[cat == CON]
        self.p_hh[connected] = self._new_households(len(connected), mainstream=False)
        self.entrant_target = n
        # New placements by category, so that the categories' shares of the
        # children looked after stay near STOCK_MIX (with this LA's in-house share):
        # a category's inflow is its share times how fast its placements end.
        stock = STOCK_MIX * (1 - self.inhouse_share) / (1 - STOCK_MIX[INH])
        stock[INH] = self.inhouse_share
        mean_instability = UNSTABLE_SHARE * UNSTABLE_FACTOR + (1 - UNSTABLE_SHARE) * STABLE_FACTOR
        self.flow = stock * (LEAVE + MOVE * mean_instability) * FLOW_TILT
        self.flow /= self.flow.sum()

        # Recruitment pipeline, warmed up as if it had run for a year.
        self.acc = {"visits": 0.0, "applications": 0.0, "completions": 0.0, "approvals": 0.0}
        if self.trafford:
            s = self.series.iloc[0]
            self.in_assessment = int(s["assessments_in_progress"] + s["approvals"] - s["applications"])
            self.last_visits = 1
            # After the real series the pipeline carries on from half-way between decisions.
            self.acc["completions"] = self.acc["approvals"] = 0.5
        else:
            steady = self.enquiry_mean * self.visit_rate * self.application_rate / self.completion_rate
            self.in_assessment = int(round(steady))
            self.last_visits = int(round(self.enquiry_mean * self.visit_rate))
        self.campaign_left = 0
        self.households_target = households
        self.busy_exits = 0  # households deregistered while a child was still placed with them

    def _ensure_places(self, needed: int) -> None:
        """Add places to random active households until there are at least `needed`."""
        active = np.flatnonzero(self.hh_active)
        short = needed - int(self.hh_cap[active].sum())
        if short > 0:
            grow = self.rng.choice(active, size=short, replace=short > len(active))
            np.add.at(self.hh_cap, grow, 1)

    def _house(self, placements: np.ndarray, day: int) -> None:
        """Give in-house placements a mainstream household with a free place on `day`."""
        if not len(placements):
            return
        free = np.where(self.hh_active, self.hh_cap - self._occupancy(day), 0)
        free = np.clip(free, 0, None)
        if free.sum() < len(placements):
            self._ensure_places(int(self.hh_cap[self.hh_active].sum() + len(placements) - free.sum()))
            free = np.clip(np.where(self.hh_active, self.hh_cap - self._occupancy(day), 0), 0, None)
        slots = np.repeat(np.arange(len(free)), free)
        self.p_hh[placements] = self.rng.choice(slots, size=len(placements), replace=False)

    # -- the monthly step --------------------------------------------------
    def run(self) -> None:
        self._initial_state()
        for month in self.months:
            self._step(month)
        self._connected_recruitment()
        self._finance()

    def _step(self, month: np.datetime64) -> None:
        rng = self.rng
        period = str(month)
        first, last = _month_bounds(month)
        days = last - first + 1
        record = _Month(month)
        in_series = self.series is not None and period in self.series.index

        # 1. Mainstream recruitment and deregistrations; the household stock.
        recruit = self._mainstream_recruitment(month, in_series)
        if in_series:
            exits = int(self.series.at[period, "carer_exits"])
        else:
            pressure = (self.hh_active.sum() / max(self.households_target, 1)) ** 4
            exits = int(rng.poisson(self.approvals_mean * pressure))
        occupancy = self._occupancy(first - 1)
        leaving = np.flatnonzero(self.hh_active & (occupancy == 0))
        exits = min(exits, int(self.hh_active.sum()))
        if len(leaving) < exits:  # not with the sample's fill rates: take the least occupied
            self.busy_exits += exits - len(leaving)
            busy = np.flatnonzero(self.hh_active & (occupancy > 0))
            leaving = np.concatenate([leaving, busy[np.argsort(occupancy[busy], kind="stable")]])
            chosen = leaving[:exits]
        else:
            # Larger households are as likely to stop as small ones, though fewer are ever empty.
            weight = self.hh_cap[leaving].astype(float) ** 2
            chosen = rng.choice(leaving, size=exits, replace=False, p=weight / weight.sum())
        self.hh_active[chosen] = False
        self._new_households(recruit["approvals"], mainstream=True)
        households = int(self.hh_active.sum())
        if in_series:
            assert households == int(self.series.at[period, "approved_households"]), period
            target = int(self.series.at[period, "children_placed"])
            self._ensure_places(target + 3)
        else:
            self.fill += 0.12 * (self.fill_mean - self.fill) + rng.normal(0, 0.01)
            self.fill = float(np.clip(self.fill, 0.5, 0.9))
            target = int(round(self.fill * self.hh_cap[self.hh_active].sum()))
        record.deregistrations["mainstream"] = self._dereg_mainstream(exits, period, in_series)
        record.recruitment["mainstream"] = recruit
        record.withdrawals["mainstream"] = self._withdrawal_reasons(recruit["applications_withdrawn"])

        # 2. Placements: children turning 18 leave, others leave or move, new children arrive.
        open_now = np.flatnonzero(self.p_end == OPEN)
        child = self.p_child[open_now]
        ageing_out = self.b18[child] <= last
        self.p_end[open_now[ageing_out]] = self.b18[child[ageing_out]]
        rest = open_now[~ageing_out]
        cat = self.p_cat[rest]
        age = _age_years(self.dob[self.p_child[rest]], first)
        p_leave = LEAVE[cat] * np.where(age >= 16, 1.6, 1.0)
        leaves = rng.random(len(rest)) < p_leave
        self.p_end[rest[leaves]] = first + rng.integers(0, days, leaves.sum())
        staying = rest[~leaves]
        instability = np.where(self.unstable[self.p_child[staying]], UNSTABLE_FACTOR, STABLE_FACTOR)
        moves = rng.random(len(staying)) < MOVE[self.p_cat[staying]] * instability
        movers = staying[moves]
        untouched = staying[~moves]
        move_day = first + rng.integers(0, days, len(movers))
        self.p_end[movers] = move_day

        flow = self.flow
        new_child = self.p_child[movers]
        new_start = move_day
        new_prev = self.p_cat[movers]
        new_cat = _draw_categories(rng, _age_years(self.dob[new_child], new_start), flow)

        # Entrants keep the number of children looked after near its slowly rising target.
        self.entrant_target *= 1.0012
        expected_exits = p_leave.sum() + ageing_out.sum()
        looked_after = len(open_now)
        entrants = int(rng.poisson(max(expected_exits + 0.15 * (self.entrant_target - looked_after), 0.5)))
        ent_child, ent_start = self._entrants(entrants, first, days)
        ent_cat = _draw_categories(rng, _age_years(self.dob[ent_child], ent_start), flow)
        new_child = np.concatenate([new_child, ent_child])
        new_start = np.concatenate([new_start, ent_start])
        new_prev = np.concatenate([new_prev, np.full(len(ent_child), -1)])
        new_cat = np.concatenate([new_cat, ent_cat])

        # 3. Exactly `target` in-house mainstream placements open at month end.
        inhouse_kept = int((self.p_cat[untouched] == INH).sum())
        gap = target - inhouse_kept - int((new_cat == INH).sum())
        if gap > 0:
            for pool in ((IFA, OLA), (REX, OTH, RSC)):
                candidates = np.flatnonzero(np.isin(new_cat, pool))
                take = rng.choice(candidates, size=min(gap, len(candidates)), replace=False)
                new_cat[take] = INH
                gap -= len(take)
                if gap == 0:
                    break
            if gap > 0:  # still short: more children come into care with in-house carers
                extra_child, extra_start = self._entrants(gap, first, days)
                new_child = np.concatenate([new_child, extra_child])
                new_start = np.concatenate([new_start, extra_start])
                new_prev = np.concatenate([new_prev, np.full(gap, -1)])
                new_cat = np.concatenate([new_cat, np.full(gap, INH)])
        elif gap < 0:
            candidates = np.flatnonzero(new_cat == INH)
            take = rng.choice(candidates, size=min(-gap, len(candidates)), replace=False)
            new_cat[take] = IFA
            gap += len(take)
            if gap < 0:  # still too many: some in-house children move on to agency carers
                pool = untouched[self.p_cat[untouched] == INH]
                moved = rng.choice(pool, size=-gap, replace=False)
                day = first + rng.integers(0, days, len(moved))
                self.p_end[moved] = day
                new_child = np.concatenate([new_child, self.p_child[moved]])
                new_start = np.concatenate([new_start, day])
                new_prev = np.concatenate([new_prev, np.full(len(moved), INH)])
                new_cat = np.concatenate([new_cat, np.where(rng.random(len(moved)) < 0.85, IFA, OLA)])
        new = self._add_placements(new_child, new_cat, new_start, new_prev)
        self._house(new[new_cat == INH], last)
        new_connected = new[new_cat == CON]
        self.p_hh[new_connected] = self._new_households(len(new_connected), mainstream=False)
        record.requests = self._requests(new)

        # 4. The month-end household tables.
        open_end = (self.p_start <= last) & (self.p_end > last)
        filled = int((open_end & (self.p_cat == INH)).sum())
        assert filled == target, (self.name, period, filled, target)
        places = int(self.hh_cap[self.hh_active].sum())
        spare = places - filled
        unavailable = int(rng.binomial(spare, self.unavailable_share))
        on_hold = min(int(rng.binomial(households, self.on_hold_rate)), unavailable)
        record.households["mainstream"] = dict(
            approved_households=households, approved_places=places, places_filled=filled,
            places_vacant=spare - unavailable, places_unavailable=unavailable, households_on_hold=on_hold,
        )
        connected_open = int((open_end & (self.p_cat == CON)).sum())
        vacant_c = int(rng.binomial(connected_open, 0.04))
        unavailable_c = int(rng.binomial(connected_open, 0.03))
        record.households["connected"] = dict(
            approved_households=connected_open, approved_places=connected_open + vacant_c + unavailable_c,
            places_filled=connected_open, places_vacant=vacant_c, places_unavailable=unavailable_c,
            households_on_hold=min(int(rng.binomial(connected_open, 0.01)), unavailable_c),
        )
        # Connected households come and go with their placements.
        ended_c = (self.p_cat == CON) & (self.p_end >= first) & (self.p_end <= last)
        record.recruitment["connected"] = {"approvals": len(new_connected)}
        record.deregistrations["connected"] = self._dereg_connected(ended_c)
        record.submitted_at = self._submitted_at(month)
        self.history[period] = record

    def _entrants(self, n: int, first: int, days: int) -> tuple[np.ndarray, np.ndarray]:
        """New children entering care this month: (child indices, placement starts)."""
        rng = self.rng
        start = first + rng.integers(0, days, n)
        age_days = _draw_ages(rng, n, ENTRANT_AGES)
        uasc = (age_days >= 14 * 365.25) & (rng.random(n) < self.uasc_rate)
        return self._new_children(start - age_days, uasc), start

    # -- recruitment -------------------------------------------------------
    def _mainstream_recruitment(self, month: np.datetime64, in_series: bool) -> dict[str, int]:
        rng = self.rng
        period = str(month)
        if in_series:
            s = self.series.loc[period]
            previous = self.in_assessment
            self.in_assessment = int(s["assessments_in_progress"])
            self.last_visits = int(s["initial_visits"])
            withdrawn = max(previous + int(s["applications"]) - int(s["approvals"]) - self.in_assessment, 0)
            return dict(
                enquiries=int(s["enquiries"]), initial_visits=int(s["initial_visits"]),
                applications=int(s["applications"]), assessments_in_progress=self.in_assessment,
                approvals=int(s["approvals"]), applications_withdrawn=withdrawn,
            )
        # Enquiries are noisy (seasons, the odd campaign); the later stages are not.
        if self.campaign_left == 0 and rng.random() < 0.04:
            self.campaign_left = 3
        boost = 1.6 if self.campaign_left > 0 else 1.0
        self.campaign_left = max(self.campaign_left - 1, 0)
        calendar_month = int(month.astype(np.int64) % 12)
        mean = self.enquiry_mean * ENQUIRY_SEASON[calendar_month] * boost
        enquiries = int(rng.negative_binomial(8, 8 / (8 + mean)))
        acc = self.acc
        acc["visits"] += enquiries * self.visit_rate
        visits, acc["visits"] = _sround(acc["visits"], rng)
        visits = min(visits, enquiries)
        acc["applications"] += self.last_visits * self.application_rate
        applications, acc["applications"] = _sround(acc["applications"], rng)
        self.last_visits = visits
        acc["completions"] += self.in_assessment * self.completion_rate
        completions, acc["completions"] = _sround(acc["completions"], rng)
        completions = min(completions, self.in_assessment)
        acc["approvals"] += completions * self.approval_share
        approvals, acc["approvals"] = _sround(acc["approvals"], rng)
        approvals = min(approvals, completions)
        early = int(rng.binomial(self.in_assessment - completions, self.early_withdrawal))
        self.in_assessment += applications - completions - early
        return dict(
            enquiries=enquiries, initial_visits=visits, applications=applications,
            assessments_in_progress=self.in_assessment, approvals=approvals,
            applications_withdrawn=completions - approvals + early,
        )

    def _connected_recruitment(self) -> None:
        """Connected enquiries (viability assessments) and the funnel, following the approvals."""
        rng = self.rng
        periods = list(self.history)
        approvals = np.array([self.history[p].recruitment["connected"]["approvals"] for p in periods], dtype=float)
        smooth = pd.Series(approvals).rolling(7, center=True, min_periods=1).mean().to_numpy()
        acc_v = acc_a = acc_w = 0.0
        last_visits = int(round(max(smooth[0], 0.5) / self.connected_conversion * self.connected_visit_rate))
        stock = int(round(3 * max(approvals.mean(), 0.5)))
        for i, period in enumerate(periods):
            mean = max(smooth[i], 0.3) / self.connected_conversion
            enquiries = int(rng.negative_binomial(10, 10 / (10 + mean)))
            acc_v += enquiries * self.connected_visit_rate
            visits, acc_v = _sround(acc_v, rng)
            visits = min(visits, enquiries)
            acc_a += last_visits * self.connected_application_rate
            applications, acc_a = _sround(acc_a, rng)
            last_visits = visits
            acc_w += 0.12 * applications
            withdrawn, acc_w = _sround(acc_w, rng)
            stock = max(int(round(stock + 0.3 * (3 * max(approvals.mean(), 0.5) - stock) + rng.normal(0, 1))), 0)
            self.history[period].recruitment["connected"] = dict(
                enquiries=enquiries, initial_visits=visits, applications=applications,
                assessments_in_progress=stock, approvals=int(approvals[i]), applications_withdrawn=withdrawn,
            )
            self.history[period].withdrawals["connected"] = self._withdrawal_reasons(withdrawn)

    def _withdrawal_reasons(self, withdrawn: int) -> np.ndarray:
        return self.rng.multinomial(withdrawn, WITHDRAWAL_P)

    # -- deregistrations ---------------------------------------------------
    def _dereg_mainstream(self, exits: int, period: str, in_series: bool) -> np.ndarray:
        rng = self.rng
        if in_series:
            if not hasattr(self, "_series_der2"):
                total = int(self.series["carer_exits"].sum())
                self._series_der2 = set(rng.choice(total, size=2, replace=False).tolist())
                self._series_exit_no = 0
            counts = np.zeros(len(DEREG_REASONS), dtype=np.int64)
            for _ in range(exits):
                counts[1 if self._series_exit_no in self._series_der2 else 2] += 1
                self._series_exit_no += 1
            return counts
        return rng.multinomial(exits, DEREG_MAINSTREAM_P)

    def _dereg_connected(self, ended: np.ndarray) -> np.ndarray:
        """Connected households deregister when their placement ends: SGO/CAO, carer's choice, or the service."""
        rng = self.rng
        rows = np.flatnonzero(ended)
        # A placement ended by a move is followed by another placement of the same child that day.
        moved = np.isin(_child_day_key(self.p_child[rows], self.p_end[rows]), _child_day_key(self.p_child, self.p_start))
        reason = np.where(
            moved,
            np.where(rng.random(len(rows)) < 0.7, 2, 1),  # DER3 / DER2
            np.where(rng.random(len(rows)) < 0.55, 5, 2),  # DER6 / DER3
        )
        return np.bincount(reason, minlength=len(DEREG_REASONS)).astype(np.int64)

    # -- submission --------------------------------------------------------
    def _submitted_at(self, month: np.datetime64) -> pd.Timestamp:
        rng = self.rng
        late = rng.random() < self.late_rate
        day = int(rng.integers(16, 26)) if late else int(rng.triangular(1, 9, 15.99))
        seconds = int(rng.integers(8 * 3600, 18 * 3600))
        following = pd.Timestamp(str(month + 1) + "-01")
        return following + pd.Timedelta(days=day - 1, seconds=seconds)

    # -- finance -----------------------------------------------------------
    def _finance(self) -> None:
        rng = self.rng
        lines = {
            "fostering_allowances": (INH,),
            "ifa_fees": (IFA,),
            "residential_fees": RESIDENTIAL,
            "connected_carer_allowances": (CON,),
        }
        modelled: dict[str, list[float]] = {line: [] for line in COST_LINES}
        for month in self.months:
            first, last = _month_bounds(month)
            days = np.clip(np.minimum(self.p_end, last + 1) - np.maximum(self.p_start, first), 0, None)
            spend = self.p_cost * days / 7
            for line, cats in lines.items():
                modelled[line].append(float(spend[np.isin(self.p_cat, cats)].sum()))
            pay = 1.03 ** (_financial_year(month) - 2021)
            modelled["fostering_staff"].append(self.staff_month * pay)
            modelled["fostering_other"].append(self.staff_month * pay * self.other_share)
        fy_of = np.array([_financial_year(m) for m in self.months])
        self.finance: dict[str, pd.DataFrame] = {}
        actual = {}
        budget = {}
        for line in COST_LINES:
            model = np.array(modelled[line])
            if line == "fostering_other":  # lumpy: campaigns, training, adaptations
                noise = rng.gamma(4.0, 0.25, len(model))
            elif line == "fostering_staff":
                noise = 1 + rng.normal(0, 0.02, len(model))
            else:
                noise = 1 + np.clip(rng.normal(0, 0.01, len(model)), -0.03, 0.03)
            actual[line] = np.round(model * noise, 2)
            low, high = self.budget_factor[line]
            budget[line] = np.zeros(len(model))
            for fy in np.unique(fy_of):
                rows = fy_of == fy
                budget[line][rows] = round(model[rows].mean() * rng.uniform(low, high), 2)
        for i, month in enumerate(self.months):
            self.finance[str(month)] = pd.DataFrame(
                {
                    "cost_line": list(COST_LINES),
                    "actual": [actual[line][i] for line in COST_LINES],
                    "budget": [budget[line][i] for line in COST_LINES],
                }
            )

    # -- the return --------------------------------------------------------
    def tables(self, month: np.datetime64, contract) -> dict[str, pd.DataFrame]:
        """The return for one month, as DataFrames in contract table and column order."""
        period = str(month)
        record = self.history[period]
        first, last = _month_bounds(month)
        frames = {
            "submission": pd.DataFrame(
                {
                    "la_code": [self.la_code],
                    "period": [period],
                    "return_version": ["1.0"],
                    "submitted_at": pd.to_datetime([record.submitted_at]),
                    "contact_email": [self.email],
                }
            ),
            "recruitment": pd.DataFrame(
                [{"carer_type": k, **record.recruitment[k]} for k in ("mainstream", "connected")]
            ),
            "households": pd.DataFrame(
                [{"carer_type": k, **record.households[k]} for k in ("mainstream", "connected")]
            ),
            "deregistrations": self._reason_rows(record.deregistrations, DEREG_REASONS, "households"),
            "withdrawals": self._reason_rows(record.withdrawals, WITHDRAWAL_REASONS, "applications"),
            "placements": self._placements(month, first, last),
            "placement_requests": record.requests,
            "finance": self.finance[period],
        }
        return {
            name: frames[name][table.column_names].reset_index(drop=True)
            for name, table in contract.tables.items()
        }

    def resubmission(self, tables: dict[str, pd.DataFrame]) -> tuple[dict, dict]:
        """A return issued, then corrected: (first issue, corrected issue).

        The first issue miscounted the enquiries; the corrected one (which the
        rest of the sample agrees with) is signed off nine days later, so it
        supersedes the first. Both are signed off by the 25th of the next month.
        """
        signed = tables["submission"].at[0, "submitted_at"]
        if signed.day > 12:
            signed = signed.replace(day=12)
        first, corrected = dict(tables), dict(tables)
        first["submission"] = tables["submission"].assign(submitted_at=[signed])
        corrected["submission"] = tables["submission"].assign(
            submitted_at=[signed + pd.Timedelta(days=9, hours=2, minutes=41)]
        )
        recruitment = tables["recruitment"].copy()
        row = recruitment.index[recruitment["carer_type"] == "mainstream"][0]
        spare = int(recruitment.at[row, "enquiries"] - recruitment.at[row, "initial_visits"])
        # Web enquiries missed (or, if that cannot be, some counted twice).
        recruitment.at[row, "enquiries"] += -min(spare, 5) if spare > 0 else 3
        first["recruitment"] = recruitment
        return first, corrected

    @staticmethod
    def _reason_rows(counts: dict[str, np.ndarray], reasons, column: str) -> pd.DataFrame:
        rows = [
            {"carer_type": carer, "reason_code": code, column: int(n)}
            for carer in ("mainstream", "connected")
            for code, n in zip(reasons, counts[carer])
            if n > 0
        ]
        return pd.DataFrame(rows, columns=["carer_type", "reason_code", column])


    def _placements(self, month: np.datetime64, first: int, last: int) -> pd.DataFrame:
        rows = np.flatnonzero((self.p_start <= last) & (self.p_end >= first))
        child = self.p_child[rows]
        rows = rows[np.lexsort((self.p_start[rows], self.child_number[child]))]
        child = self.p_child[rows]
        ptype = self.p_type[rows].copy()
        if month > SUPPORTED_RETIRED_AFTER:
            ptype[np.isin(ptype, [T["H5"], T["P2"]])] = T["K3"]
        end = self.p_end[rows]
        ended = end <= last
        hh = self.p_hh[rows]
        yes_no = np.array(["N", "Y"])
        return pd.DataFrame(
            {
                "child_id": np.char.add(self.prefix, self.child_number[child].astype(str)),
                "date_of_birth": _to_dates(self.dob[child]).astype("datetime64[s]"),
                "uasc": yes_no[self.uasc[child].astype(int)],
                "disability": yes_no[self.disability[child].astype(int)],
                "sibling_group_size": self.sibling[child],
                "placement_type": np.array(TYPES)[ptype],
                "placement_provider": np.array(PROVIDERS)[self.p_prov[rows]],
                "placement_start": _to_dates(self.p_start[rows]).astype("datetime64[s]"),
                "placement_end": pd.Series(_to_dates(np.where(ended, end, 0)).astype("datetime64[s]")).where(ended),
                "in_area": yes_no[self.p_in_area[rows].astype(int)],
                "weekly_cost": self.p_cost[rows],
                "carer_household_id": pd.Series(
                    np.char.add(f"{self.prefix}-HH", np.char.zfill(np.maximum(hh, 0).astype(str), 4)), dtype=object
                ).where(hh >= 0, None),
            }
        )

    def _requests(self, new: np.ndarray) -> pd.DataFrame:
        """Requests for placements, by need: the month's new placements (not P1 or adoption) and the unplaced."""
        rng = self.rng
        cat = self.p_cat[new]
        new = new[~np.isin(cat, (PWP, ADO))]
        cat = self.p_cat[new]
        child = self.p_child[new]
        age = _age_years(self.dob[child], self.p_start[new])
        need = np.full(len(new), NEED_CATEGORIES.index("general"))
        # The main need, lowest priority first (later assignments win).
        need[age >= 11] = NEED_CATEGORIES.index("teenager")
        need[rng.random(len(new)) < 0.18] = NEED_CATEGORIES.index("emergency")
        need[np.isin(self.p_prev[new], RESIDENTIAL) & np.isin(cat, FOSTER)] = NEED_CATEGORIES.index("step_down")
        need[self.sibling[child] > 1] = NEED_CATEGORIES.index("sibling_group")
        need[self.disability[child]] = NEED_CATEGORIES.index("disability")
        need[(age < 1) & (rng.random(len(new)) < 0.15)] = NEED_CATEGORIES.index("parent_and_child")
        need[self.uasc[child]] = NEED_CATEGORIES.index("uasc")
        own = np.isin(cat, (INH, CON, RIN))
        in_house = np.bincount(need[own], minlength=len(NEED_CATEGORIES))
        external = np.bincount(need[~own], minlength=len(NEED_CATEGORIES))
        not_placed = rng.poisson(0.06 * (in_house + external) + 0.15)
        return pd.DataFrame(
            {
                "need_category": list(NEED_CATEGORIES),
                "requests": in_house + external + not_placed,
                "placed_in_house": in_house,
                "placed_external": external,
                "not_placed": not_placed,
            }
        )
