"""Foster households: how many are approved, with how many places, and why they leave.

Mainstream households must reconcile every month (stock = previous stock +
approvals - deregistrations) and their filled places must be exactly the
in-house mainstream placements open at month end; connected households come
and go one-for-one with connected placements. `Households` keeps those
counts, chooses which households stop, gives the reasons (deregistrations)
and fills in the month-end `households` rows.
"""

from __future__ import annotations

import numpy as np

from .categories import CON, INH
from .days import child_day_key

CARER_TYPES = ("mainstream", "connected")
# Reason codes (contract code list), with how often each is used for mainstream households.
DEREG_REASONS = ("DER1", "DER2", "DER3", "DER4", "DER5", "DER6")
DEREG_MAINSTREAM_P = np.array([0.14, 0.07, 0.68, 0.02, 0.01, 0.08])


class Households:
    """Mixin of `LocalAuthority`: approved households, places and deregistrations.

    Works on the `Register`'s arrays; uses the LA's `rng`, `name`, `trafford`,
    `series` and `approvals_mean` (from `Recruitment`).
    """

    def _household_params(self) -> None:
        rng = self.rng
        self.cap_mean = rng.uniform(1.30, 1.45)  # approved places per household
        self.fill_mean = 0.72 if self.trafford else rng.uniform(0.62, 0.72)
        self.unavailable_share = rng.uniform(0.42, 0.52)  # of the places not filled
        self.on_hold_rate = rng.uniform(0.02, 0.05)

    def _initial_households(self, placed: np.ndarray, cat: np.ndarray, inhouse: int, first_day: int) -> None:
        """The households of the placements open at the start.

        One per connected placement, and enough mainstream places for the
        in-house children at the LA's fill rate.
        """
        rng = self.rng
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
        self.fill = inhouse / self._approved_places
        self._house(placed[cat == INH], first_day - 1)
        # Connected carers: one household per connected placement.
        connected = placed[cat == CON]
        self.p_hh[connected] = self._new_households(len(connected), mainstream=False)
        self.households_target = households
        self.busy_exits = 0  # households deregistered while a child was still placed with them

    def _mainstream_households(self, record, first: int, in_series: bool, approvals: int) -> tuple[int, int]:
        """The month's mainstream exits and approvals.

        Returns (approved households, in-house placements wanted open at month end).
        """
        rng = self.rng
        period = str(record.period)
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
        self._new_households(approvals, mainstream=True)
        households = int(self.hh_active.sum())
        if in_series:
            assert households == int(self.series.at[period, "approved_households"]), period
            target = int(self.series.at[period, "children_placed"])
            self._ensure_places(target + 3)
        else:
            self.fill += 0.12 * (self.fill_mean - self.fill) + rng.normal(0, 0.01)
            self.fill = float(np.clip(self.fill, 0.5, 0.9))
            target = int(round(self.fill * self._approved_places))
        record.deregistrations["mainstream"] = self._dereg_mainstream(exits, period, in_series)
        return households, target

    def _month_end_households(self, record, first: int, last: int, households: int, target: int,
                              new_connected: np.ndarray) -> None:
        """The month-end `households` rows, and the connected households' comings and goings."""
        rng = self.rng
        open_end = self._open_at(last)
        filled = int((open_end & (self.p_cat == INH)).sum())
        assert filled == target, (self.name, str(record.period), filled, target)
        places = int(self._approved_places)
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

    # -- deregistrations -------------------------------------------------------
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
        moved = np.isin(child_day_key(self.p_child[rows], self.p_end[rows]), child_day_key(self.p_child, self.p_start))
        reason = np.where(
            moved,
            np.where(rng.random(len(rows)) < 0.7, 2, 1),  # DER3 / DER2
            np.where(rng.random(len(rows)) < 0.55, 5, 2),  # DER6 / DER3
        )
        return np.bincount(reason, minlength=len(DEREG_REASONS)).astype(np.int64)
