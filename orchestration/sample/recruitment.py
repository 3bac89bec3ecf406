"""The foster-carer recruitment funnel: enquiries to approvals, and withdrawn applications.

Mainstream recruitment is simulated month by month (noisy, seasonal
enquiries; steady later stages), or read from Trafford's real series while it
lasts. Connected-carer recruitment is filled in after the run, working
backwards from the connected households the placements needed. Whole numbers
come from running totals with stochastic rounding, so every stage stays
within one of its expected count.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

WITHDRAWAL_REASONS = ("AW1", "AW2", "AW3", "AW4", "AW5", "AW0")
WITHDRAWAL_P = np.array([0.20, 0.12, 0.33, 0.10, 0.08, 0.17])
# Seasonality of foster-carer enquiries by calendar month (Jan .. Dec).
ENQUIRY_SEASON = np.array([1.25, 1.10, 1.05, 0.95, 1.00, 0.90, 0.85, 0.80, 1.10, 1.05, 0.95, 0.75])


def sround(acc: float, rng: np.random.Generator) -> tuple[int, float]:
    """Stochastic rounding with carry: the running total stays within 1 of the expected one."""
    n = max(int(np.floor(acc + rng.random())), 0)
    return n, acc - n


def carry(acc: dict[str, float], stage: str, expected: float, rng: np.random.Generator) -> int:
    """Add `expected` to the running total of `stage` and take out a whole number."""
    acc[stage] += expected
    n, acc[stage] = sround(acc[stage], rng)
    return n


def visits_and_applications(
    acc: dict[str, float], rng: np.random.Generator, enquiries: int, last_visits: int,
    visit_rate: float, application_rate: float,
) -> tuple[int, int]:
    """The funnel's front: initial visits follow this month's enquiries, applications last month's visits."""
    visits = min(carry(acc, "visits", enquiries * visit_rate, rng), enquiries)
    applications = carry(acc, "applications", last_visits * application_rate, rng)
    return visits, applications


class Recruitment:
    """Mixin of `LocalAuthority`: the recruitment funnel and the withdrawals by reason.

    Uses the LA's `rng`, `trafford` and `series`, `population` and `history`.
    """

    def _recruitment_params(self) -> None:
        rng = self.rng
        size = self.population / 55_000
        # Mainstream: noisy enquiries, steady later stages.
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

    def _warm_up_recruitment(self) -> None:
        """The mainstream pipeline at the first month, as if it had run for a year."""
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
        visits, applications = visits_and_applications(
            acc, rng, enquiries, self.last_visits, self.visit_rate, self.application_rate
        )
        self.last_visits = visits
        completions = carry(acc, "completions", self.in_assessment * self.completion_rate, rng)
        completions = min(completions, self.in_assessment)
        approvals = min(carry(acc, "approvals", completions * self.approval_share, rng), completions)
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
        acc = {"visits": 0.0, "applications": 0.0, "withdrawn": 0.0}
        last_visits = int(round(max(smooth[0], 0.5) / self.connected_conversion * self.connected_visit_rate))
        steady = 3 * max(approvals.mean(), 0.5)  # assessments in progress
        stock = int(round(steady))
        for i, period in enumerate(periods):
            mean = max(smooth[i], 0.3) / self.connected_conversion
            enquiries = int(rng.negative_binomial(10, 10 / (10 + mean)))
            visits, applications = visits_and_applications(
                acc, rng, enquiries, last_visits, self.connected_visit_rate, self.connected_application_rate
            )
            last_visits = visits
            withdrawn = carry(acc, "withdrawn", 0.12 * applications, rng)
            stock = max(int(round(stock + 0.3 * (steady - stock) + rng.normal(0, 1))), 0)
            self.history[period].recruitment["connected"] = dict(
                enquiries=enquiries, initial_visits=visits, applications=applications,
                assessments_in_progress=stock, approvals=int(approvals[i]), applications_withdrawn=withdrawn,
            )
            self.history[period].withdrawals["connected"] = self._withdrawal_reasons(withdrawn)

    def _withdrawal_reasons(self, withdrawn: int) -> np.ndarray:
        return self.rng.multinomial(withdrawn, WITHDRAWAL_P)
