"""Estimators, weights and the outcome model on logs small enough to check by hand."""

from __future__ import annotations

import numpy as np
import pytest

from bandit_router.ope import (
    Candidate,
    DoublyRobust,
    EstimatorInputs,
    InverseProbabilityWeighting,
    LoggedBandit,
    SelfNormalizedIPW,
    action_probabilities,
    evaluate_policy,
    overlap,
)
from bandit_router.ope.meta import EvaluationConfig
from bandit_router.ope.bootstrap import bootstrap_intervals
from bandit_router.ope.estimators import ESTIMATORS
from bandit_router.ope.reward_model import cross_fitted_predictions

# Four decisions over two arms, and a candidate that puts π_e(a|x) on them.
ACTIONS = np.array([0, 1, 0, 1])
PROPENSITY = np.array([0.5, 0.25, 0.8, 0.5])
REWARD = np.array([[1.0], [0.0], [1.0], [1.0]])
TARGET = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0], [0.2, 0.8]])
Q = np.tile(np.array([[0.6], [0.3]]), (4, 1, 1))  # q̂(x, a) = 0.6 for arm 0, 0.3 for arm 1


def _inputs():
    return EstimatorInputs.build(REWARD, ACTIONS, PROPENSITY, TARGET, Q)


def test_importance_weights_are_target_over_logged_propensity():
    assert _inputs().weights == pytest.approx([2.0, 2.0, 0.0, 1.6])


def test_ips_snips_and_dr_match_the_hand_computed_values():
    inp = _inputs()
    assert InverseProbabilityWeighting().estimate(inp)[0] == pytest.approx(3.6 / 4)
    assert SelfNormalizedIPW().estimate(inp)[0] == pytest.approx(3.6 / 5.6)
    # DR terms: q̂ under π_e (0.6, 0.45, 0.3, 0.36) + w·(y − q̂(a)) (0.8, −0.6, 0, 1.12).
    assert DoublyRobust().estimate(inp)[0] == pytest.approx(3.03 / 4)


def test_dr_with_a_perfect_model_of_a_deterministic_world_has_no_correction():
    y = np.array([[0.6], [0.3], [0.6], [0.3]])
    inp = EstimatorInputs.build(y, ACTIONS, PROPENSITY, TARGET, Q)
    assert DoublyRobust().estimate(inp)[0] == pytest.approx(np.mean([0.6, 0.45, 0.3, 0.36]))


def test_effective_sample_size_is_squared_sum_over_sum_of_squares():
    ov = overlap(np.array([2.0, 2.0, 0.0, 1.6]), PROPENSITY)
    assert ov.ess == pytest.approx(5.6**2 / 10.56)
    assert ov.max_weight == 2.0
    assert ov.max_weight_share == pytest.approx(2.0 / 5.6)
    assert ov.zero_weight_share == 0.25


def test_on_policy_weights_give_the_plain_mean_and_full_overlap():
    rng = np.random.default_rng(0)
    n = 500
    actions = rng.integers(0, 2, n)
    y = rng.random((n, 1))
    target = np.full((n, 2), 0.5)
    inp = EstimatorInputs.build(y, actions, np.full(n, 0.5), target)
    for est in (InverseProbabilityWeighting(), SelfNormalizedIPW()):
        assert est.estimate(inp)[0] == pytest.approx(y.mean())
    ov = overlap(inp.weights, np.full(n, 0.5))
    assert ov.ess == pytest.approx(n) and ov.trustworthy


def test_bootstrap_is_deterministic_per_seed_and_brackets_the_estimate():
    rng = np.random.default_rng(1)
    n = 400
    actions = rng.integers(0, 2, n)
    y = rng.random((n, 2))
    target = np.tile([0.3, 0.7], (n, 1))
    q = np.full((n, 2, 2), 0.5)
    inp = EstimatorInputs.build(y, actions, np.full(n, 0.5), target, q)
    a = bootstrap_intervals(ESTIMATORS, inp, np.random.default_rng(9), n_boot=300)
    b = bootstrap_intervals(ESTIMATORS, inp, np.random.default_rng(9), n_boot=300)
    c = bootstrap_intervals(ESTIMATORS, inp, np.random.default_rng(10), n_boot=300)
    for est in ESTIMATORS:
        np.testing.assert_array_equal(a[est.name], b[est.name])
        assert not np.array_equal(a[est.name], c[est.name])
        value = est.estimate(inp)
        assert np.all(a[est.name][0] < value) and np.all(value < a[est.name][1])


def test_cross_fitting_never_predicts_a_row_from_its_own_outcome():
    n = 40
    X = np.ones((n, 1))
    actions = np.zeros(n, dtype=np.intp)
    y = np.zeros((n, 1))
    y[0] = 1000.0  # an outlier: only the other fold's model may see it
    q = cross_fitted_predictions(X, actions, y, 2, np.random.default_rng(0), folds=2)
    assert q[0, 0, 0] < 1.0
    assert (q[1:, 0, 0] > 10).sum() == n // 2  # exactly the other fold sees it


def test_reward_model_recovers_a_linear_outcome_per_arm():
    rng = np.random.default_rng(3)
    n = 2000
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    actions = rng.integers(0, 2, n)
    truth = np.where(actions == 0, 0.2 + 0.5 * X[:, 1], 0.7 - 0.3 * X[:, 1])
    q = cross_fitted_predictions(X, actions, truth[:, None], 2, rng, folds=5)
    assert q[:, 0, 0] == pytest.approx(0.2 + 0.5 * X[:, 1], abs=0.01)
    assert q[:, 1, 0] == pytest.approx(0.7 - 0.3 * X[:, 1], abs=0.01)


def test_the_reward_model_predicts_from_a_single_logged_decision():
    # One decision with feedback leaves one fold: its predictions are in-sample, shaped like
    # any other (this used to raise IndexError right after the quick start).
    q = cross_fitted_predictions(np.ones((1, 3)), np.array([1]), np.array([[0.8, 0.002]]), 4,
                                 np.random.default_rng(0))
    assert q.shape == (1, 4, 2)
    assert q[0, 1] == pytest.approx([0.8, 0.002], abs=0.2)


def test_the_doubly_robust_cost_model_uses_each_models_price_as_estimated_when_deciding():
    # A cost is tokens × price, not linear in the request features: here the price grows with
    # x² (as with long prompts). With the decision-time prices as a regressor, the DR cost
    # estimate of "always the dear model" no longer carries the importance weights' noise.
    rng = np.random.default_rng(4)
    n = 3000
    x = rng.normal(size=n)
    X = np.column_stack([np.ones(n), x])
    prices = np.array([0.0002, 0.004])[None, :] * (1 + x[:, None] ** 2)
    p_dear = np.where(x > 1, 0.05, 0.5)  # the logger seldom tried the dear model on long prompts
    actions = (rng.random(n) < p_dear).astype(np.intp)
    propensities = np.where(actions == 1, p_dear, 1 - p_dear)
    costs = prices[np.arange(n), actions] * rng.uniform(0.9, 1.1, n)
    data = LoggedBandit(arms=("cheap", "dear"), actions=actions, rewards=rng.random(n),
                        costs=costs, propensities=propensities,
                        eligible=np.ones((n, 2), dtype=bool), X=X, arm_costs=prices)
    ev = evaluate_policy(data, action_probabilities(Candidate("fixed", model="dear"), data),
                         np.random.default_rng(5), config=EvaluationConfig(n_boot=300))
    truth = 0.004 * 2.0  # E[1 + x²] = 2
    dr, ips = ev.estimates["DR"]["cost_usd"], ev.estimates["IPS"]["cost_usd"]
    assert dr.low <= truth <= dr.high
    assert dr.high - dr.low < 0.25 * (ips.high - ips.low)
