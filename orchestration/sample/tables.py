"""Turning one simulated month into the return's tables, in contract order.

`tables()` is what `generate()` writes: submission, recruitment, households,
deregistrations, withdrawals, placements, placement_requests and finance,
each as a DataFrame in the contract's table and column order. Here too are the
few draws that only shape the return rather than the children's lives: when it
was signed off, the requests behind the month's new placements, and the
miscounted first issue of the resubmission.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .categories import ADO, CON, FOSTER, INH, PROVIDERS, PWP, RESIDENTIAL, RIN, SUPPORTED_RETIRED_AFTER, T, TYPES
from .days import age_years, month_bounds, to_dates
from .households import CARER_TYPES, DEREG_REASONS
from .recruitment import WITHDRAWAL_REASONS

NEED_CATEGORIES = (
    "teenager", "sibling_group", "disability", "parent_and_child", "uasc", "step_down", "emergency", "general",
)


class ReturnTables:
    """Mixin of `LocalAuthority`: the return of each month, from the simulated state.

    Uses the LA's `rng`, identity (`la_code`, `email`, `prefix`), `late_rate`,
    `history` of `Month` records, `finance` and the `Register`'s arrays.
    """

    def _submitted_at(self, month: np.datetime64) -> pd.Timestamp:
        rng = self.rng
        late = rng.random() < self.late_rate
        day = int(rng.integers(16, 26)) if late else int(rng.triangular(1, 9, 15.99))
        seconds = int(rng.integers(8 * 3600, 18 * 3600))
        following = pd.Timestamp(str(month + 1) + "-01")
        return following + pd.Timedelta(days=day - 1, seconds=seconds)

    def tables(self, month: np.datetime64, contract) -> dict[str, pd.DataFrame]:
        """The return for one month, as DataFrames in contract table and column order."""
        period = str(month)
        record = self.history[period]
        first, last = month_bounds(month)
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
            "recruitment": _by_carer(record.recruitment),
            "households": _by_carer(record.households),
            "deregistrations": _reason_rows(record.deregistrations, DEREG_REASONS, "households"),
            "withdrawals": _reason_rows(record.withdrawals, WITHDRAWAL_REASONS, "applications"),
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

    def _placements(self, month: np.datetime64, first: int, last: int) -> pd.DataFrame:
        """Every placement open at some time in the month, by child and start."""
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
                "date_of_birth": to_dates(self.dob[child]).astype("datetime64[s]"),
                "uasc": yes_no[self.uasc[child].astype(int)],
                "disability": yes_no[self.disability[child].astype(int)],
                "sibling_group_size": self.sibling[child],
                "placement_type": np.array(TYPES)[ptype],
                "placement_provider": np.array(PROVIDERS)[self.p_prov[rows]],
                "placement_start": to_dates(self.p_start[rows]).astype("datetime64[s]"),
                "placement_end": pd.Series(to_dates(np.where(ended, end, 0)).astype("datetime64[s]")).where(ended),
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
        age = age_years(self.dob[child], self.p_start[new])
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


def _by_carer(counts: dict[str, dict[str, int]]) -> pd.DataFrame:
    return pd.DataFrame([{"carer_type": carer, **counts[carer]} for carer in CARER_TYPES])


def _reason_rows(counts: dict[str, np.ndarray], reasons, column: str) -> pd.DataFrame:
    rows = [
        {"carer_type": carer, "reason_code": code, column: int(n)}
        for carer in CARER_TYPES
        for code, n in zip(reasons, counts[carer])
        if n > 0
    ]
    return pd.DataFrame(rows, columns=["carer_type", "reason_code", column])
