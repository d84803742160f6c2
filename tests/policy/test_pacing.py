"""Budget pacing, simulated with the service's own policy code.

Three models (cheap/mid/strong) whose quality depends on the request; left alone, the policy
would spend about three times the budget. With pacing, the period must end with spend between
90% and 100% of the limit — never above — and a better mean reward than always-cheapest.
"""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest

from bandit_router.policy import Posterior, Prior, SufficientStats, ThompsonSampling
from bandit_router.policy.pacing import (
    PacingState,
    allowance_per_request,
    calibrate_cost_weight,
    period_bounds,
)

COST = np.array([0.0005, 0.003, 0.01])  # USD per request: cheap, mid, strong
PERIOD_S = 86_400.0


def quality(X: np.ndarray) -> np.ndarray:
    """P(success) per request and model; the strong model shines on 'hard' requests (x1)."""
    hard = X[:, 1]
    return np.clip(np.stack([0.75 - 0.45 * hard, 0.8 - 0.25 * hard, 0.85 + 0.05 * hard], 1),
                   0, 1)


def run_period(limit_usd: float | None, seed: int, n: int = 6000, refit_every: int = 50):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.random(n), rng.normal(size=n)])
    p = quality(X)
    policy = ThompsonSampling(propensity_floor=0.01)
    stats = SufficientStats.empty(["cheap", "mid", "strong"], 3)
    post = Posterior.fit(stats, Prior())
    lam, spent, rewards, picks, rejected = 0.0, 0.0, [], [], 0
    batch: list[tuple[int, np.ndarray, float]] = []
    for i in range(n):
        now_s = i * PERIOD_S / n
        if i % refit_every == 0 and i:
            idx, xs, rs = zip(*batch)
            stats.update(np.array(idx), np.array(xs), np.array(rs))
            batch.clear()
            post = Posterior.fit(stats, Prior())
            if limit_usd is not None:
                recent = X[max(0, i - 200):i]
                state = PacingState(limit_usd, spent, i, now_s, PERIOD_S)
                mean = recent @ post.view(stats.arms).theta.T
                lam = calibrate_cost_weight(mean, np.tile(COST, (len(recent), 1)),
                                            0.97 * state.allowance())
        eligible = np.ones(3, bool)
        if limit_usd is not None:
            eligible = COST <= limit_usd - spent  # the hard guarantee
            if not eligible.any():
                rejected += 1
                continue
        c = policy.choose(post.view(stats.arms), X[i], rng, cost=COST, cost_weight=lam,
                          eligible=eligible)
        r = float(rng.random() < p[i, c.index])
        spent += COST[c.index]
        rewards.append(r)
        picks.append(c.index)
        batch.append((c.index, X[i], r))
    return {"spent": spent, "reward": float(np.mean(rewards)), "cheapest": float(p[:, 0].mean()),
            "picks": np.bincount(picks, minlength=3), "rejected": rejected}


def test_budget_is_paced_to_90_to_100_percent_and_beats_always_cheapest():
    free = run_period(None, seed=1)
    limit = free["spent"] / 3  # the unconstrained policy spends about three times the budget
    for seed in (2, 3, 4):
        paced = run_period(limit, seed=seed)
        assert 0.90 * limit <= paced["spent"] <= limit, (paced, limit)
        assert paced["reward"] > paced["cheapest"] + 0.02, paced


def test_calibration_returns_zero_when_the_budget_does_not_bind():
    mean = np.array([[0.5, 0.9], [0.4, 0.8]])
    cost = np.array([[0.001, 0.01]] * 2)
    assert calibrate_cost_weight(mean, cost, target_cost=0.02) == 0.0
    lam = calibrate_cost_weight(mean, cost, target_cost=0.002)
    assert 0.4 / 0.009 <= lam  # enough to prefer the cheap model on both requests


def test_calibrated_lambda_meets_the_target_on_the_replayed_requests():
    rng = np.random.default_rng(0)
    mean = rng.random((300, 4))
    cost = np.tile([0.001, 0.002, 0.004, 0.008], (300, 1))
    lam = calibrate_cost_weight(mean, cost, target_cost=0.003)
    pick = np.argmax(mean - lam * cost, axis=1)
    assert cost[np.arange(300), pick].mean() <= 0.003
    pick_looser = np.argmax(mean - 0.9 * lam * cost, axis=1)
    assert cost[np.arange(300), pick_looser].mean() > 0.003 * 0.9


def test_allowance_spreads_what_is_left_over_the_expected_requests():
    assert allowance_per_request(10.0, 3600, 1.0) == pytest.approx(10 / 3600)
    state = PacingState(limit_usd=100, committed_usd=60, n_decisions=500, elapsed_s=500,
                        period_s=1000)
    assert state.allowance() == pytest.approx(40 / 500)


@pytest.mark.parametrize("period,start,end", [
    ("hour", "2026-03-05T14:00:00", "2026-03-05T15:00:00"),
    ("day", "2026-03-05T00:00:00", "2026-03-06T00:00:00"),
    ("month", "2026-02-01T00:00:00", "2026-03-01T00:00:00"),
])
def test_periods_are_calendar_aligned_in_utc(period, start, end):
    now = datetime(2026, 3 if period != "month" else 2, 5, 14, 37, tzinfo=timezone.utc)
    s, e = period_bounds(period, now)
    assert (s.isoformat()[:19], e.isoformat()[:19]) == (start, end)
