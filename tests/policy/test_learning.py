"""The learning step and the policy specification that every learner shares."""

from __future__ import annotations

import numpy as np
import pytest

from bandit_router.policy import (
    EpsilonGreedy,
    LinUCB,
    Observations,
    PolicySpec,
    SufficientStats,
    ThompsonSampling,
    learn,
)

MODELS = ("a", "b", "c")


def _batch(rng, n=60, d=4, t0=0.0):
    X = rng.standard_normal((n, d))
    X[:, 0] = 1.0
    return Observations(MODELS, rng.integers(0, 3, n), X, rng.random(n), t0 + np.arange(n) + 1)


def test_learning_leaves_the_previous_statistics_untouched():
    rng = np.random.default_rng(0)
    stats = SufficientStats.empty(list(MODELS), 4)
    first = learn(PolicySpec(half_life=50.0), stats, [_batch(rng)], now=60.0)
    before = first.stats.to_bytes()
    learn(PolicySpec(half_life=50.0), first.stats, [_batch(rng, t0=60.0)], now=120.0,
          fitted=first.posterior)
    assert first.stats.to_bytes() == before
    assert stats.n.sum() == 0


def test_feedback_in_several_batches_learns_what_one_batch_does():
    rng = np.random.default_rng(1)
    one, two = _batch(rng), _batch(rng, t0=60.0)
    spec = PolicySpec(half_life=30.0, drift=None)
    start = SufficientStats.empty([], 4)
    together = Observations(MODELS, np.concatenate([one.arm, two.arm]),
                            np.vstack([one.X, two.X]), np.concatenate([one.reward, two.reward]),
                            np.concatenate([one.times, two.times]))
    split = learn(spec, start, [one, two], now=120.0)
    whole = learn(spec, start, [together], now=120.0)
    np.testing.assert_allclose(split.posterior.theta, whole.posterior.theta)
    assert split.rows == whole.rows == 120


def test_models_seen_for_the_first_time_join_in_name_order():
    rng = np.random.default_rng(2)
    stats = SufficientStats.empty(["b"], 4)
    X = rng.standard_normal((3, 4))
    out = learn(PolicySpec(), stats, [Observations.of_models(["c", "b", "a"], X, np.ones(3))],
                now=0.0)
    assert out.stats.arms == ["b", "a", "c"]
    assert list(out.stats.n) == [1.0, 1.0, 1.0]


def test_a_full_information_batch_teaches_every_available_model():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((5, 4))
    rewards = rng.random((5, 3))
    available = np.ones((5, 3), dtype=bool)
    available[:2, 2] = False
    batch = Observations.full_information(MODELS, X, rewards, available=available)
    out = learn(PolicySpec(drift=None), SufficientStats.empty(list(MODELS), 4), [batch], now=0.0)
    assert list(out.stats.n) == [5.0, 5.0, 3.0]
    np.testing.assert_allclose(out.stats.b[2], X[2:].T @ rewards[2:, 2])


def test_a_weighted_warm_start_counts_as_that_many_observations():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((8, 4))
    rewards = rng.random((8, 3))
    empty = SufficientStats.empty(list(MODELS), 4)
    spec = PolicySpec(drift=None)
    full = learn(spec, empty, [Observations.full_information(MODELS, X, rewards)], now=0.0)
    warm = learn(spec, empty, [Observations.full_information(MODELS, X, rewards, weight=0.25)],
                 now=0.0)
    assert list(warm.stats.n) == [2.0, 2.0, 2.0]
    np.testing.assert_allclose(warm.stats.A, 0.25 * full.stats.A)
    np.testing.assert_allclose(warm.stats.b, 0.25 * full.stats.b)
    with pytest.raises(ValueError, match="weights must be ≥ 0"):
        Observations(MODELS, np.zeros(1, dtype=np.intp), X[:1], rewards[:1, 0], weight=[-1.0])


def test_the_spec_builds_each_policy_with_its_knobs():
    assert PolicySpec(kind="thompson", propensity_floor=0.02).policy() == \
        ThompsonSampling(propensity_floor=0.02, floor_mass=0.02, floor_prune=2.0)
    assert PolicySpec(kind="thompson", floor_mass=0, floor_prune=0).policy() == \
        ThompsonSampling(propensity_floor=0.001)
    assert PolicySpec(kind="linucb", alpha=0.3).policy() == \
        LinUCB(propensity_floor=0.001, floor_mass=0.02, floor_prune=2.0, alpha=0.3)
    assert PolicySpec(kind="epsilon-greedy", epsilon=0.1).policy(4) == \
        EpsilonGreedy(propensity_floor=0.025)
    with pytest.raises(ValueError, match="number of candidates"):
        PolicySpec(kind="epsilon-greedy").policy()


@pytest.mark.parametrize("knobs, message", [
    ({"kind": "softmax"}, "unknown policy 'softmax'"),
    ({"propensity_floor": 0.7}, "propensity_floor"),
    ({"alpha": -1.0}, "alpha"),
    ({"epsilon": 1.5}, "epsilon"),
    ({"half_life": 0.0}, "half_life"),
])
def test_a_bad_spec_is_refused_with_the_knob_to_fix(knobs, message):
    with pytest.raises(ValueError, match=message):
        PolicySpec(**knobs)
