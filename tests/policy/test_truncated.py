"""Rewards lie in [0, 1] (issue #17, fifth session): Thompson sampling truncated to each model's
reward range, and the exploration floor's dominance test capped by it. The logged propensity
must stay exact: it is checked against the frequency of sampled choices."""

from __future__ import annotations

import numpy as np
import pytest

from bandit_router.policy import PolicySpec, Posterior, Prior, SufficientStats, thompson
from bandit_router.policy.thompson import (
    truncated_argmax_probability,
    truncated_frame,
    truncated_quantile,
    truncated_score,
)


def _sampled_frequencies(u, s, lo, n, rng):
    """How often each arm's truncated draw is the largest over ``n`` draws (the sampler of
    :func:`truncated_score`, vectorised over draws)."""
    uu, ss, alpha, beta = truncated_frame(u, s, lo)
    z = truncated_quantile(alpha[None], beta[None], rng.random((n, len(u))))
    v = np.clip(uu + ss * z, lo, lo + 1.0)
    return np.bincount(v.argmax(axis=1), minlength=len(u)) / n


LO4 = -np.array([0.5, 0.2, 0.1, 0.0])
CASES = {
    "inside, no cost": ([1.0, 0.8, 0.7, 0.5], [0.3, 0.1, 0.05, 0.2], [0.0] * 4),
    "cost-shifted ranges": (np.array([1.0, 0.8, 0.7, 0.5]) + LO4, [0.3, 0.1, 0.05, 0.2], LO4),
    "optimistic and wide (untried models)": ([1.0, 1.0, 1.0], [1.0, 0.6, 0.3], [0.0] * 3),
    "means beyond 1, spreads 0 (ties at the bound)": ([1.5, 1.5, 0.9], [0.0, 0.0, 0.1], [0.0] * 3),
    "means beyond both bounds": ([1.5, 2.0, -0.5, 0.9], [1e-3, 0.5, 1e-3, 0.1], [0.0] * 4),
    "below 0, one spread 0": ([-0.5, -3.0, 0.01], [1e-3, 0.5, 0.0], [0.0] * 3),
    "identical point masses": ([0.5, 0.5, 0.5], [0.0, 0.0, 0.0], [0.0] * 3),
    "far in the tails": ([30.0, -40.0, 0.5], [0.1, 0.1, 0.01], [0.0] * 3),
}


@pytest.mark.parametrize("name", CASES)
def test_the_propensity_is_the_frequency_of_sampled_choices(name):
    u, s, lo = (np.asarray(a, dtype=float) for a in CASES[name])
    n = 400_000
    freq = _sampled_frequencies(u, s, lo, n, np.random.default_rng(17))
    p = np.array([truncated_argmax_probability(c, u, s, lo) for c in range(len(u))])
    se = np.sqrt(np.maximum(p * (1 - p), 1.0 / n) / n)
    assert np.all(np.abs(p - freq) <= 4.5 * se + 2e-4), (p, freq)
    assert abs(p.sum() - 1.0) < 2e-4


def test_many_random_worlds_match_their_sampled_frequencies():
    rng = np.random.default_rng(5)
    worst = 0.0
    for _ in range(12):
        k = int(rng.integers(2, 12))
        lo = -rng.random(k) * rng.choice([0.0, 0.8])
        u = lo + rng.normal(0.7, 0.4, k)
        s = rng.random(k) * rng.choice([0.05, 0.5, 1.5])
        freq = _sampled_frequencies(u, s, lo, 100_000, rng)
        p = np.array([truncated_argmax_probability(c, u, s, lo) for c in range(k)])
        se = np.sqrt(np.maximum(p * (1 - p), 1e-5) / 100_000)
        worst = max(worst, float(np.max(np.abs(p - freq) / (4.5 * se + 2e-4))))
        assert abs(p.sum() - 1.0) < 2e-4
    assert worst <= 1.0


def test_draws_lie_in_each_models_reward_range():
    rng = np.random.default_rng(3)
    lo = -np.array([0.0, 0.3, 0.9])
    u = np.array([1.0, 3.0, -2.0]) + lo
    for _ in range(200):
        v = truncated_score(u, np.array([0.8, 1e-9, 2.0]), lo, rng)
        assert np.all(v >= lo) and np.all(v <= lo + 1.0)


def _views(n, seed):
    """Real posteriors: a few models with data, one untried, an optimistic prior mean above 1
    (so that some means lie beyond the range), prices and an eligibility mask."""
    rng = np.random.default_rng(seed)
    for _ in range(n):
        k = int(rng.integers(2, 7))
        d = 4
        arms = [f"m{j}" for j in range(k)]
        stats = SufficientStats.empty(arms, d)
        rows = int(rng.integers(5, 80))
        X = rng.normal(size=(rows, d))
        X[:, 0] = 1.0
        stats.update(rng.integers(0, k, rows), X, (rng.random(rows) < 0.6).astype(float))
        prior = Prior(optimism=float(rng.choice([1.0, 1.3])), evidence="none", subspace="off")
        view = Posterior.fit(stats, prior).view(arms + ["new"])
        x = rng.normal(size=d)
        x[0] = 1.0
        eligible = rng.random(k + 1) < 0.75
        eligible[int(rng.integers(k + 1))] = True
        yield view, x, rng.random(k + 1) * 2e-3, eligible


SPEC = PolicySpec(truncate=True, floor_bounded=True)


def test_the_logged_propensity_is_probabilities_and_the_frequency_of_choices():
    policy = SPEC.policy()
    rng = np.random.default_rng(11)
    draws = 3000
    for view, x, cost, eligible in _views(4, seed=2):
        weight = 150.0
        p = policy.probabilities(view, x, cost=cost, cost_weight=weight, eligible=eligible)
        assert p[~eligible].sum() == 0.0 and abs(p.sum() - 1.0) < 2e-4
        counts = np.zeros(len(p))
        for _ in range(draws):
            ch = policy.choose(view, x, rng, cost=cost, cost_weight=weight, eligible=eligible)
            assert ch.propensity == p[ch.index]  # the same numbers, bit for bit
            counts[ch.index] += 1
        se = np.sqrt(np.maximum(p * (1 - p), 1.0 / draws) / draws)
        assert np.all(np.abs(counts / draws - p) <= 4.5 * se), (p, counts / draws)


def test_one_eligible_model_is_chosen_with_probability_one():
    policy = SPEC.policy()
    view, x, cost, _ = next(_views(1, seed=4))
    only = np.zeros(len(view.arms), dtype=bool)
    only[-1] = True
    ch = policy.choose(view, x, np.random.default_rng(0), cost=cost, cost_weight=50.0,
                       eligible=only)
    assert (ch.index, ch.propensity) == (len(view.arms) - 1, 1.0)


def test_off_the_policy_samples_as_before():
    """truncate=False draws the untruncated Gaussian from the same random stream (the digest in
    test_propensity_native.py pins the rest)."""
    view, x, cost, eligible = next(_views(1, seed=6))
    old = PolicySpec().policy().choose(view, x, np.random.default_rng(1), cost=cost,
                                       cost_weight=100.0, eligible=eligible)
    on = PolicySpec(truncate=True).policy().choose(view, x, np.random.default_rng(1),
                                                   cost=cost, cost_weight=100.0,
                                                   eligible=eligible)
    assert isinstance(SPEC.policy(), thompson.ThompsonSampling)
    assert not np.array_equal(old.score, on.score)
    assert np.all(on.score <= 1.0 - 100.0 * view.learned_cost(x, cost) + 1e-12)


def test_a_dear_model_that_cannot_reach_the_cheap_ones_lower_bound_is_dominated():
    """The cheap model is surely near 0.95 (lower bound 0.93); the dear one has the same mean
    reward, λ·cost = 0.2, so utility 0.75, and a wide spread: its upper bound 0.75 + 2·0.25 =
    1.25 reaches 0.93 under the rule before, but capped at its best, 1 − 0.2 = 0.8, it cannot."""
    u = np.array([0.95, 0.75])
    s = np.array([0.01, 0.25])
    lo = np.array([0.0, -0.2])
    plain = PolicySpec().policy()
    bounded = PolicySpec(floor_bounded=True).policy()
    assert plain._floor(u, s)[0] is None  # nobody dominated
    open_, f_open, f_low, mass = bounded._floor(u, s, lo)
    assert list(open_) == [True, False] and f_low == bounded.propensity_floor
    assert f_open + f_low == pytest.approx(mass)


def test_the_best_model_stays_open_when_its_mean_lies_beyond_1():
    bounded = PolicySpec(floor_bounded=True).policy()
    open_, *_ = bounded._floor(np.array([1.8, 0.2, 0.5]), np.array([0.01, 0.01, 0.3]),
                               np.zeros(3))
    assert open_[0] and not open_[1]


def test_the_settings_switch_both_on(monkeypatch):
    from bandit_router.config import Settings

    assert not Settings().policy_spec().policy().truncate  # off by default
    monkeypatch.setenv("BANDIT_ROUTER_THOMPSON_TRUNCATE", "1")
    monkeypatch.setenv("BANDIT_ROUTER_FLOOR_BOUNDED", "true")
    policy = Settings().policy_spec().policy()
    assert policy.truncate and policy.floor_bounded
