"""One LA simulated month by month: children come into care, move, leave and turn 18.

`LocalAuthority` is the simulation `generate()` runs for each LA. This module
holds its life cycle (parameters, the state at the first month, the monthly
step) and the placements part of the step; the other concerns are mixins
in their own modules: `Register` (the arrays), `Households`, `Recruitment`,
`Finance` and `ReturnTables` (the return written from the state).

Placements are simulated one at a time, so a month's `placements` table is
every placement open at some time in that month and an ended placement never
comes back. Each month ends with exactly the in-house mainstream placements
the households' filled places say.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .categories import (
    CATS, CON, ENTRANT_AGES, FLOW_TILT, IFA, INH, LEAVE, MOVE, OLA, OPEN_DURATION, OTH, REX, RSC, STABLE_FACTOR,
    STOCK_AGES, STOCK_MIX, SUP, T, UNSTABLE_FACTOR, UNSTABLE_SHARE, draw_ages, draw_categories,
)
from .days import OPEN, age_years, month_bounds
from .finance import Finance
from .households import Households
from .las import DFE_CODE_LAS, OFTEN_LATE_LAS, slug
from .recruitment import Recruitment
from .register import Register
from .tables import ReturnTables
from .trafford import trafford_series


@dataclass
class Month:
    """What the simulation decided for one month (besides the placements)."""

    period: np.datetime64
    recruitment: dict[str, dict[str, int]] = field(default_factory=dict)
    households: dict[str, dict[str, int]] = field(default_factory=dict)
    deregistrations: dict[str, np.ndarray] = field(default_factory=dict)  # households by reason
    withdrawals: dict[str, np.ndarray] = field(default_factory=dict)  # applications by reason
    requests: pd.DataFrame | None = None
    submitted_at: pd.Timestamp | None = None


@dataclass
class NewPlacements:
    """A month's placements before they are added: child, start day, category moved from (-1: none), category."""

    child: np.ndarray
    start: np.ndarray
    prev: np.ndarray
    cat: np.ndarray

    def extend(self, child: np.ndarray, start: np.ndarray, prev, cat) -> None:
        """Add placements; `prev` and `cat` may be one category for all of them."""
        n = len(child)
        self.child = np.concatenate([self.child, child])
        self.start = np.concatenate([self.start, start])
        self.prev = np.concatenate([self.prev, np.broadcast_to(prev, n)])
        self.cat = np.concatenate([self.cat, np.broadcast_to(cat, n)])


class LocalAuthority(Register, Households, Recruitment, Finance, ReturnTables):
    """The children, placements and carers of one LA, from `start` to `end` (months).

    Every random draw comes from one numpy Generator seeded by (seed, GSS code,
    Trafford or not), in a fixed order: the same arguments give the same LA.
    """

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
        self.history: dict[str, Month] = {}
        self._params()

    def _params(self) -> None:
        """This LA's own rates, each drawn once (in this order: the order is part of what a seed gives)."""
        rng = self.rng
        self.cla_rate = 68.0 if self.trafford else rng.uniform(62, 95)  # per 10,000 children
        self.inhouse_share = rng.uniform(0.37, 0.41)
        self.unstable_share = UNSTABLE_SHARE
        self._household_params()
        south_east = self.la["hub"] == "South East fostering hub"
        self.uasc_rate = 0.35 if self.name == "Kent" else (0.22 if south_east else 0.12)  # of entrants aged 14+
        self._recruitment_params()
        # Submission habits.
        self.late_rate = 0.35 if self.name in OFTEN_LATE_LAS else 0.04
        self._finance_params()

    def run(self) -> None:
        self._initial_state()
        for month in self.months:
            self._step(month)
        self._connected_recruitment()
        self._finance()

    # -- the first month's state -------------------------------------------
    def _initial_state(self) -> None:
        rng = self.rng
        first_day, _ = month_bounds(self.months[0])
        self._empty_register()

        n = int(round(self.population * self.cla_rate / 10_000))
        age_days = np.minimum(draw_ages(rng, n, STOCK_AGES), int(18 * 365.25) - 3)
        age = age_days / 365.25
        if self.trafford:
            inhouse = int(self.series["children_placed"].iloc[0])
            self.inhouse_share = inhouse / n
        else:
            inhouse = int(round(self.inhouse_share * n))
        cat = draw_categories(rng, age, np.where(np.arange(len(CATS)) == INH, 0.0, STOCK_MIX))
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

        self._initial_households(placed, cat, inhouse, first_day)
        self.entrant_target = n
        # New placements by category, so that the categories' shares of the
        # children looked after stay near STOCK_MIX (with this LA's in-house share):
        # a category's inflow is its share times how fast its placements end.
        stock = STOCK_MIX * (1 - self.inhouse_share) / (1 - STOCK_MIX[INH])
        stock[INH] = self.inhouse_share
        mean_instability = UNSTABLE_SHARE * UNSTABLE_FACTOR + (1 - UNSTABLE_SHARE) * STABLE_FACTOR
        self.flow = stock * (LEAVE + MOVE * mean_instability) * FLOW_TILT
        self.flow /= self.flow.sum()
        self._warm_up_recruitment()

    # -- the monthly step --------------------------------------------------
    def _step(self, month: np.datetime64) -> None:
        rng = self.rng
        period = str(month)
        first, last = month_bounds(month)
        days = last - first + 1
        record = Month(month)
        in_series = self.series is not None and period in self.series.index

        # 1. Mainstream recruitment and deregistrations; the household stock.
        recruit = self._mainstream_recruitment(month, in_series)
        households, target = self._mainstream_households(record, first, in_series, recruit["approvals"])
        record.recruitment["mainstream"] = recruit
        record.withdrawals["mainstream"] = self._withdrawal_reasons(recruit["applications_withdrawn"])

        # 2. Placements: children turning 18 leave, others leave or move, new children arrive.
        open_now = np.flatnonzero(self.p_end == OPEN)
        child = self.p_child[open_now]
        ageing_out = self.b18[child] <= last
        self.p_end[open_now[ageing_out]] = self.b18[child[ageing_out]]
        rest = open_now[~ageing_out]
        cat = self.p_cat[rest]
        age = age_years(self.dob[self.p_child[rest]], first)
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
        moved_child = self.p_child[movers]
        new = NewPlacements(moved_child, move_day, self.p_cat[movers], self._categories(moved_child, move_day))

        # Entrants keep the number of children looked after near its slowly rising target.
        self.entrant_target *= 1.0012
        expected_exits = p_leave.sum() + ageing_out.sum()
        looked_after = len(open_now)
        entrants = int(rng.poisson(max(expected_exits + 0.15 * (self.entrant_target - looked_after), 0.5)))
        ent_child, ent_start = self._entrants(entrants, first, days)
        new.extend(ent_child, ent_start, -1, self._categories(ent_child, ent_start))

        # 3. Exactly `target` in-house mainstream placements open at month end.
        inhouse_kept = int((self.p_cat[untouched] == INH).sum())
        gap = target - inhouse_kept - int((new.cat == INH).sum())
        if gap > 0:
            for pool in ((IFA, OLA), (REX, OTH, RSC)):
                gap -= self._switch(new.cat, pool, gap, INH)
                if gap == 0:
                    break
            if gap > 0:  # still short: more children come into care with in-house carers
                extra_child, extra_start = self._entrants(gap, first, days)
                new.extend(extra_child, extra_start, -1, INH)
        elif gap < 0:
            gap += self._switch(new.cat, (INH,), -gap, IFA)
            if gap < 0:  # still too many: some in-house children move on to agency carers
                pool = untouched[self.p_cat[untouched] == INH]
                moved = rng.choice(pool, size=-gap, replace=False)
                day = first + rng.integers(0, days, len(moved))
                self.p_end[moved] = day
                new.extend(self.p_child[moved], day, INH, np.where(rng.random(len(moved)) < 0.85, IFA, OLA))
        added = self._add_placements(new.child, new.cat, new.start, new.prev)
        self._house(added[new.cat == INH], last)
        new_connected = added[new.cat == CON]
        self.p_hh[new_connected] = self._new_households(len(new_connected), mainstream=False)
        record.requests = self._requests(added)

        # 4. The month-end household tables; the return's sign-off.
        self._month_end_households(record, first, last, households, target, new_connected)
        record.submitted_at = self._submitted_at(month)
        self.history[period] = record

    def _categories(self, child: np.ndarray, start: np.ndarray) -> np.ndarray:
        """Categories for new placements, in proportion to the LA's flow."""
        return draw_categories(self.rng, age_years(self.dob[child], start), self.flow)

    def _switch(self, cat: np.ndarray, pool, n: int, to: int) -> int:
        """Re-categorise up to `n` new placements in the categories `pool` as `to`; return how many."""
        candidates = np.flatnonzero(np.isin(cat, pool))
        take = self.rng.choice(candidates, size=min(n, len(candidates)), replace=False)
        cat[take] = to
        return len(take)

    def _entrants(self, n: int, first: int, days: int) -> tuple[np.ndarray, np.ndarray]:
        """New children entering care this month: (child indices, placement starts)."""
        rng = self.rng
        start = first + rng.integers(0, days, n)
        age_days = draw_ages(rng, n, ENTRANT_AGES)
        uasc = (age_days >= 14 * 365.25) & (rng.random(n) < self.uasc_rate)
        return self._new_children(start - age_days, uasc), start
