"""The simulated LA's records: children, placements and foster households.

The simulation keeps its state as parallel numpy arrays (one entry per child,
per placement, per household number) rather than objects, so that a month's
endings, moves and new placements are a handful of vectorised operations.
`Register` owns those arrays: creating them empty, appending to them, and the
questions asked of households (who is caring for whom on a day, and where a
new in-house placement can go).
"""

from __future__ import annotations

import numpy as np

from .categories import INH, IN_AREA, draw_codes, draw_costs
from .days import OPEN, age_years, eighteenth_birthday, no_leap_day

# One array per attribute, indexed by child (position in the register) ...
CHILD_COLUMNS = {
    "child_number": np.int64, "dob": np.int64, "b18": np.int64, "uasc": bool, "disability": bool,
    "sibling": np.int64, "unstable": bool,
}
# ... and by placement. p_hh is the carer household's number (-1: none);
# p_prev the category of the placement the child moved from (-1: none).
PLACEMENT_COLUMNS = {
    "p_child": np.int64, "p_cat": np.int64, "p_type": np.int64, "p_prov": np.int64, "p_start": np.int64,
    "p_end": np.int64, "p_hh": np.int64, "p_prev": np.int64, "p_in_area": bool, "p_cost": np.float64,
}


class Register:
    """Mixin of `LocalAuthority`: the arrays of children, placements and households.

    Uses `self.rng`, `self.unstable_share` and `self.cap_mean` of the LA.
    Households are numbered from a shared counter (`next_hh`) and indexed by
    number in `hh_cap` (approved places; 0 for connected households) and
    `hh_active` (a mainstream household still approved).
    """

    def _empty_register(self) -> None:
        rng = self.rng
        for name, dtype in CHILD_COLUMNS.items():
            setattr(self, name, np.zeros(0, dtype=dtype))
        self.next_child = int(rng.integers(100_000, 300_000))
        for name, dtype in PLACEMENT_COLUMNS.items():
            setattr(self, name, np.zeros(0, dtype=dtype))
        # The household numbers below the first are simply never used.
        self.next_hh = int(rng.integers(1, 60))
        self.hh_cap = np.zeros(self.next_hh, dtype=np.int64)
        self.hh_active = np.zeros(self.next_hh, dtype=bool)

    def _append(self, **columns: np.ndarray) -> None:
        for name, values in columns.items():
            setattr(self, name, np.concatenate([getattr(self, name), values]))

    def _new_children(self, dob: np.ndarray, uasc: np.ndarray) -> np.ndarray:
        """Add children (characteristics drawn here); return their indices."""
        rng = self.rng
        n = len(dob)
        dob = no_leap_day(dob)
        first = len(self.dob)
        numbers = self.next_child + np.cumsum(rng.integers(1, 30, n))
        self.next_child = int(numbers[-1]) if n else self.next_child
        sib = rng.choice([1, 2, 3, 4], size=n, p=[0.70, 0.19, 0.08, 0.03])
        sib = np.where(uasc, 1, sib)
        self._append(
            child_number=numbers,
            dob=dob,
            b18=eighteenth_birthday(dob),
            uasc=uasc,
            disability=rng.random(n) < 0.08,
            sibling=sib,
            unstable=rng.random(n) < self.unstable_share,
        )
        return np.arange(first, first + n)

    def _add_placements(self, child, cat, start, prev_cat) -> np.ndarray:
        """Append placements (codes, costs and area drawn here); return their indices."""
        rng = self.rng
        n = len(child)
        age = age_years(self.dob[child], start)
        ptype, prov = draw_codes(rng, cat, age, start)
        first = len(self.p_child)
        self._append(
            p_child=child,
            p_cat=cat,
            p_type=ptype,
            p_prov=prov,
            p_start=start,
            p_end=np.full(n, OPEN),
            p_in_area=rng.random(n) < IN_AREA[cat],
            p_cost=draw_costs(rng, cat, start),
            p_hh=np.full(n, -1, dtype=np.int64),
            p_prev=prev_cat,
        )
        return np.arange(first, first + n)

    def _open_at(self, day: int) -> np.ndarray:
        """Which placements are open at the end of `day`."""
        return (self.p_start <= day) & (self.p_end > day)

    # -- households ----------------------------------------------------------
    def _new_households(self, n: int, mainstream: bool) -> np.ndarray:
        numbers = np.arange(self.next_hh, self.next_hh + n)
        self.next_hh += n
        caps = self.rng.choice([1, 2, 3], size=n, p=self._cap_p) if mainstream else np.zeros(n, dtype=np.int64)
        self._append(hh_cap=caps, hh_active=np.full(n, mainstream))
        return numbers

    @property
    def _cap_p(self) -> np.ndarray:
        # 1, 2 or 3 places with mean cap_mean: p3 fixed small, p2 solves the mean.
        p3 = 0.05
        p2 = self.cap_mean - 1 - 2 * p3
        return np.array([1 - p2 - p3, p2, p3])

    @property
    def _approved_places(self) -> np.int64:
        """Places of the mainstream households approved now."""
        return self.hh_cap[self.hh_active].sum()

    def _occupancy(self, open_at: int) -> np.ndarray:
        """Children per mainstream household in in-house placements open at the end of day `open_at`."""
        rows = (self.p_cat == INH) & (self.p_hh >= 0) & self._open_at(open_at)
        return np.bincount(self.p_hh[rows], minlength=self.next_hh)

    def _free_places(self, day: int) -> np.ndarray:
        """Unfilled places per household at the end of `day` (0 for households no longer approved)."""
        return np.clip(np.where(self.hh_active, self.hh_cap - self._occupancy(day), 0), 0, None)

    def _ensure_places(self, needed: int) -> None:
        """Add places to random active households until there are at least `needed`."""
        active = np.flatnonzero(self.hh_active)
        short = needed - int(self._approved_places)
        if short > 0:
            grow = self.rng.choice(active, size=short, replace=short > len(active))
            np.add.at(self.hh_cap, grow, 1)

    def _house(self, placements: np.ndarray, day: int) -> None:
        """Give in-house placements a mainstream household with a free place on `day`."""
        if not len(placements):
            return
        free = self._free_places(day)
        if free.sum() < len(placements):
            self._ensure_places(int(self._approved_places + len(placements) - free.sum()))
            free = self._free_places(day)
        slots = np.repeat(np.arange(len(free)), free)
        self.p_hh[placements] = self.rng.choice(slots, size=len(placements), replace=False)
