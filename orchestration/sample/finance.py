"""The `finance` table: each cost line's monthly actual spend and budget.

Placement lines follow the simulated placements (weekly cost x days open in
the month), so the finance return agrees with the placements return; staff
and other fostering-service costs scale with the LA's child population. Budgets
are set once per financial year, some lines (IFA fees) habitually too low.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .categories import CON, IFA, INH, RESIDENTIAL
from .days import financial_year, month_bounds

COST_LINES = (
    "fostering_allowances", "ifa_fees", "residential_fees", "connected_carer_allowances",
    "fostering_staff", "fostering_other",
)
# The placement categories each placement cost line pays for.
PLACEMENT_LINES = {
    "fostering_allowances": (INH,),
    "ifa_fees": (IFA,),
    "residential_fees": RESIDENTIAL,
    "connected_carer_allowances": (CON,),
}
# Rotherham's fostering service: 23.4 FTE, GBP 1.13 m a year, for 55,000 children.
STAFF_COST_PER_CHILD_POP = 1_130_000 / 55_000
# How each line's budget is set: the year's modelled spend times a factor in (low, high).
BUDGET_FACTOR = {
    "fostering_allowances": (0.97, 1.05),
    "ifa_fees": (0.72, 0.85),  # IFA fees overspend
    "residential_fees": (0.80, 0.95),
    "connected_carer_allowances": (0.90, 1.05),
    "fostering_staff": (0.98, 1.03),
    "fostering_other": (0.90, 1.15),
}


class Finance:
    """Mixin of `LocalAuthority`: the finance table of every month, built after the run.

    Uses the LA's `rng`, `population`, `months` and the `Register`'s placements.
    """

    def _finance_params(self) -> None:
        """The service's staff costs a month, and its other costs as a share of them."""
        rng = self.rng
        self.staff_month = STAFF_COST_PER_CHILD_POP * self.population / 12 * rng.uniform(0.9, 1.1)
        self.other_share = rng.uniform(0.18, 0.30)

    def _finance(self) -> None:
        rng = self.rng
        modelled: dict[str, list[float]] = {line: [] for line in COST_LINES}
        for month in self.months:
            first, last = month_bounds(month)
            days = np.clip(np.minimum(self.p_end, last + 1) - np.maximum(self.p_start, first), 0, None)
            spend = self.p_cost * days / 7
            for line, cats in PLACEMENT_LINES.items():
                modelled[line].append(float(spend[np.isin(self.p_cat, cats)].sum()))
            pay = 1.03 ** (financial_year(month) - 2021)
            modelled["fostering_staff"].append(self.staff_month * pay)
            modelled["fostering_other"].append(self.staff_month * pay * self.other_share)
        fy_of = np.array([financial_year(m) for m in self.months])
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
            low, high = BUDGET_FACTOR[line]
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
