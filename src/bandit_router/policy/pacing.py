"""Budget pacing: choose the cost weight λ so that spend follows the budget line.

The rule is knapsack-style and self-correcting, in the spirit of the budgeted-bandit pacing of
Balseiro & Gur ("Learning in Repeated Auctions with Budgets", 2019) and the online knapsack
threshold used by PILOT (Panda et al., 2025):

1. The allowance per request is what is left divided by the requests still expected:
   ``ρ = remaining_usd / (rate · remaining_seconds)``. Overspending early lowers ρ, and
   underspending raises it, so the period ends near the limit instead of running out early.
2. λ is the smallest cost weight whose greedy choices, replayed on the tenant's recent
   requests with the current posterior means, cost at most ρ per request on average. Greedy
   cost is non-increasing in λ for every request, so bisection on log λ finds it.

Pure numpy and stdlib: the service calls it from its sync job, simulations call it directly.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np

PERIODS = ("hour", "day", "month")


def period_bounds(period: str, now: datetime) -> tuple[datetime, datetime]:
    """Start and end (UTC, calendar-aligned) of the budget period containing ``now``."""
    now = now.astimezone(timezone.utc)
    if period == "hour":
        start = now.replace(minute=0, second=0, microsecond=0)
        return start, start + timedelta(hours=1)
    if period == "day":
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return start, start + timedelta(days=1)
    if period == "month":
        start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        days = calendar.monthrange(start.year, start.month)[1]
        return start, start + timedelta(days=days)
    raise ValueError(f"period must be one of {PERIODS}, not {period!r}")


def allowance_per_request(remaining_usd: float, remaining_s: float, rate_per_s: float) -> float:
    """ρ: what each of the requests still expected this period may cost on average."""
    expected = max(rate_per_s * max(remaining_s, 0.0), 1.0)
    return max(remaining_usd, 0.0) / expected


def greedy_cost(mean_reward: np.ndarray, cost: np.ndarray, eligible: np.ndarray,
                cost_weight: float) -> float:
    """Mean cost of choosing argmax(reward − λ·cost) among eligible arms, per request."""
    utility = np.where(eligible, mean_reward - cost_weight * cost, -np.inf)
    pick = np.argmax(utility, axis=1)
    return float(cost[np.arange(len(cost)), pick].mean())


def calibrate_cost_weight(
    mean_reward: np.ndarray,
    cost: np.ndarray,
    target_cost: float,
    eligible: np.ndarray | None = None,
    iterations: int = 40,
) -> float:
    """Smallest λ ≥ 0 whose greedy choices on these requests cost ≤ ``target_cost`` each.

    ``mean_reward`` and ``cost`` are (n requests, K arms). Returns 0 when the budget does not
    bind, and a λ large enough to pick the cheapest arm everywhere when even that is too dear.
    """
    mean_reward = np.asarray(mean_reward, dtype=float)
    cost = np.asarray(cost, dtype=float)
    if mean_reward.size == 0:
        return 0.0
    eligible = np.ones_like(cost, dtype=bool) if eligible is None else np.asarray(eligible, bool)
    if greedy_cost(mean_reward, cost, eligible, 0.0) <= target_cost:
        return 0.0
    # λ_hi makes any reward gap smaller than the smallest cost gap: cheapest wins everywhere.
    r_span = float(np.ptp(mean_reward)) + 1e-9
    c_gaps = np.diff(np.unique(cost))
    c_gap = float(c_gaps[c_gaps > 0].min()) if np.any(c_gaps > 0) else 1.0
    hi = 2.0 * r_span / c_gap
    if greedy_cost(mean_reward, cost, eligible, hi) > target_cost:
        return hi
    lo = hi * 1e-9
    for _ in range(iterations):
        mid = float(np.sqrt(lo * hi))
        if greedy_cost(mean_reward, cost, eligible, mid) <= target_cost:
            hi = mid
        else:
            lo = mid
    return hi


@dataclass(frozen=True)
class PacingState:
    """A tenant's position in its budget period, as read from the ledger."""

    limit_usd: float
    committed_usd: float  # spent + reserved for decisions awaiting feedback
    n_decisions: int
    elapsed_s: float
    period_s: float

    @property
    def remaining_usd(self) -> float:
        return max(self.limit_usd - self.committed_usd, 0.0)

    def rate_per_s(self, fallback_rate: float | None = None, min_elapsed_s: float = 1.0) -> float:
        """Requests per second so far this period (or ``fallback_rate`` before any traffic)."""
        if self.n_decisions == 0 and fallback_rate is not None:
            return fallback_rate
        return self.n_decisions / max(self.elapsed_s, min_elapsed_s)

    def allowance(self, fallback_rate: float | None = None, min_elapsed_s: float = 1.0) -> float:
        return allowance_per_request(self.remaining_usd, self.period_s - self.elapsed_s,
                                     self.rate_per_s(fallback_rate, min_elapsed_s))
