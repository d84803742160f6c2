"""Prior shapes (per-block precision, pooled prior mean) and warm start in the learning step."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from bandit_router.policy import Posterior, PolicySpec, Prior, SufficientStats, warm_start


def _x(d: int = 20, words: float = 1.0) -> np.ndarray:
    x = np.zeros(d)
    x[0] = 1.0
    x[9:] = words / np.sqrt(d - 9)
    return x


def test_tight_tail_prior_shrinks_the_spread_of_word_weights_but_not_of_the_bias():
    loose = Posterior.from_prior(["a"], 20, Prior()).view(("a",))
    tight = Posterior.from_prior(["a"], 20, Prior(tail_precision=1000.0)).view(("a",))
    _, sd_loose = loose.predict(_x())
    _, sd_tight = tight.predict(_x())
    assert sd_tight[0] < 0.8 * sd_loose[0]
    bias_only = _x(words=0.0)
    np.testing.assert_allclose(tight.predict(bias_only)[1], loose.predict(bias_only)[1],
                               rtol=1e-5)


def test_pooled_prior_mean_puts_an_untried_model_at_what_the_others_earn():
    rng = np.random.default_rng(0)
    stats = SufficientStats.empty(["a", "b", "new"], 20)
    X = np.stack([_x() for _ in range(400)]) + rng.normal(0, 0.01, (400, 20))
    stats.update(np.repeat([0, 1], 200), X, np.full(400, 0.3))
    optimistic = Posterior.fit(stats, Prior()).view(("new",)).predict(_x())[0][0]
    pooled = Posterior.fit(stats, Prior(pool=1.0)).view(("new",)).predict(_x())[0][0]
    assert optimistic == pytest.approx(1.0, abs=0.05)
    assert pooled == pytest.approx(0.3, abs=0.05)


def test_warm_start_counts_each_evaluation_with_its_weight_and_skips_missing_scores():
    X = np.stack([_x() for _ in range(10)])
    scores = np.column_stack([np.ones(10), np.zeros(10)])
    scores[:4, 1] = np.nan
    spec = PolicySpec()
    learned = warm_start(spec, SufficientStats.empty([], 20), ["a", "b"], X, scores, now=0.0,
                         weight=0.25)
    st = learned.stats
    np.testing.assert_allclose(st.n[[st.arms.index("a"), st.arms.index("b")]], [2.5, 1.5])
    mean, _ = learned.posterior.view(("a", "b")).predict(_x())
    assert mean[0] > mean[1]
    with pytest.raises(ValueError):
        warm_start(spec, SufficientStats.empty([], 20), ["a"], X, scores, now=0.0)
    with pytest.raises(ValueError):
        warm_start(spec, SufficientStats.empty([], 20), ["a", "b"], X, scores, now=0.0,
                   weight=0.0)


def test_tail_exploration_scales_the_word_spread_only_and_keeps_the_mean():
    rng = np.random.default_rng(1)
    stats = SufficientStats.empty(["a", "b"], 20)
    X = np.stack([_x() for _ in range(60)]) + rng.normal(0, 0.3, (60, 20))
    X[:, 0] = 1.0
    stats.update(rng.integers(0, 2, 60), X, rng.random(60))
    plain = Prior(subspace="off")  # a diagonal prior: halving x's words lowers the spread
    full = Posterior.fit(stats, plain).view(("a", "b", "new"))
    half = Posterior.fit(stats, replace(plain, tail_exploration=0.5)).view(("a", "b", "new"))
    x = X[0]
    m_full, sd_full = full.predict(x)
    m_half, sd_half = half.predict(x)
    np.testing.assert_array_equal(m_half, m_full)
    assert np.all(sd_half < sd_full)
    # The spread is the full one at x with the word block halved, for tried and untried arms.
    x_scaled = x.copy()
    x_scaled[9:] *= 0.5
    np.testing.assert_allclose(sd_half, full.predict(x_scaled)[1], rtol=1e-5)
    # Along the bias and structure directions nothing changes.
    np.testing.assert_allclose(half.predict(_x(words=0.0))[1], full.predict(_x(words=0.0))[1],
                               rtol=1e-6)
    # The off value is the behaviour of before, bit for bit.
    same = Posterior.fit(stats, replace(plain, tail_exploration=1.0)).view(("a", "b", "new"))
    np.testing.assert_array_equal(same.rinv, full.rinv)
    with pytest.raises(ValueError):
        Prior(tail_exploration=-0.1)


def test_optimism_quantile_starts_an_untried_model_at_the_observed_rewards():
    stats = SufficientStats.empty(["a", "b", "c"], 20)
    X = np.stack([_x() for _ in range(300)])
    arm = np.repeat([0, 1, 2], 100)
    stats.update(arm, X, np.array([0.2, 0.5, 0.8])[arm])
    def untried(prior: Prior) -> float:
        return Posterior.fit(stats, prior).view(("new",)).predict(_x())[0][0]
    assert untried(Prior()) == pytest.approx(1.0)  # off: the fixed optimism
    assert untried(Prior(optimism_quantile=1.0)) == pytest.approx(0.8)
    assert untried(Prior(optimism_quantile=0.5)) == pytest.approx(0.5)
    assert untried(Prior(optimism_quantile=0.0)) == pytest.approx(0.2)
    # With no data at all the fixed optimism is where every model starts.
    empty = Posterior.from_prior(["a"], 20, Prior(optimism_quantile=0.5))
    assert empty.view(("a",)).predict(_x())[0][0] == pytest.approx(1.0)
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError):
            Prior(optimism_quantile=bad)


def test_settings_and_simulator_knobs_reach_the_prior(monkeypatch):
    from pydantic import ValidationError

    from bandit_router.config import Settings
    from simulations.cli import build_policies

    monkeypatch.setenv("BANDIT_ROUTER_PRIOR_TAIL_EXPLORATION", "0.5")
    monkeypatch.setenv("BANDIT_ROUTER_PRIOR_OPTIMISM_QUANTILE", "0.75")
    prior = Settings().policy_spec().prior
    assert (prior.tail_exploration, prior.optimism_quantile) == (0.5, 0.75)
    monkeypatch.setenv("BANDIT_ROUTER_PRIOR_OPTIMISM_QUANTILE", "1.5")
    with pytest.raises(ValidationError, match="optimism_quantile"):
        Settings()
    a, b = build_policies("thompson:tail_exploration=0.25:optimism_quantile=1,"
                          "thompson:optimism_quantile=none", 100, PolicySpec())
    assert (a.spec.prior.tail_exploration, a.spec.prior.optimism_quantile) == (0.25, 1.0)
    assert b.spec.prior.optimism_quantile is None and b.spec.prior.tail_exploration == 1.0


def test_a_stored_posterior_keeps_the_new_knobs():
    stats = SufficientStats.empty(["a", "b"], 20)
    stats.update(np.zeros(10, dtype=int), np.stack([_x() for _ in range(10)]), np.full(10, 0.3))
    post = Posterior.fit(stats, Prior(optimism_quantile=0.5, tail_exploration=0.5))
    back = Posterior.from_bytes(post.to_bytes())
    assert (back.prior.optimism_quantile, back.prior.tail_exploration) == (0.5, 0.5)
    np.testing.assert_array_equal(back.view(("a", "b")).rinv, post.view(("a", "b")).rinv)
    assert back.view(("b",)).predict(_x())[0][0] == pytest.approx(0.3)
