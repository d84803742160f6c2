"""The candidate policy's probabilities: consistent with what the policy logs when it chooses."""

from __future__ import annotations

import numpy as np
import pytest

from bandit_router.ope import Candidate, LoggedBandit, ReplayedPosteriors, action_probabilities
from bandit_router.ope.target import replay_versions
from bandit_router.policy import (
    LinUCB,
    PolicySpec,
    Posterior,
    Prior,
    SufficientStats,
    ThompsonSampling,
)

ARMS = ("a", "b", "c")


def _posterior(rng, d=4, n=300):
    X = rng.normal(size=(n, d))
    X[:, 0] = 1.0
    stats = SufficientStats.empty(list(ARMS), d)
    stats.update(rng.integers(0, 3, n), X, rng.normal(scale=0.5, size=n))
    return Posterior.fit(stats, Prior(optimism=0.0)), X


def _logged(X, eligible=None, cost=None):
    n = len(X)
    elig = np.ones((n, 3), bool) if eligible is None else eligible
    actions = np.argmax(elig, axis=1)
    return LoggedBandit(arms=ARMS, actions=actions, rewards=np.zeros(n), costs=np.zeros(n),
                        propensities=np.full(n, 0.5), eligible=elig, X=X, arm_costs=cost)


@pytest.mark.parametrize("policy", [ThompsonSampling(propensity_floor=0.03),
                                    LinUCB(propensity_floor=0.03, alpha=0.5)])
def test_probabilities_equal_the_propensity_choose_logs(policy):
    rng = np.random.default_rng(0)
    post, X = _posterior(rng)
    view = post.view(ARMS)
    cost = np.array([0.01, 0.02, 0.0])
    eligible = np.array([True, False, True])
    for x in X[:30]:
        p = policy.probabilities(view, x, cost=cost, cost_weight=3.0, eligible=eligible)
        assert p[1] == 0.0 and p.sum() == pytest.approx(1.0, abs=1e-3)
        ch = policy.choose(view, x, rng, cost=cost, cost_weight=3.0, eligible=eligible)
        assert p[ch.index] == pytest.approx(ch.propensity, abs=1e-12)


def test_uniform_and_fixed_candidates_respect_eligibility():
    elig = np.array([[True, True, True], [True, False, True], [True, True, False]])
    data = _logged(np.ones((3, 1)), elig)
    uni = action_probabilities(Candidate("uniform"), data)
    np.testing.assert_allclose(uni, [[1 / 3] * 3, [0.5, 0, 0.5], [0.5, 0.5, 0]])
    fixed = action_probabilities(Candidate.parse("fixed:b"), data)
    # Where b was not a candidate, the fixed policy falls back to uniform among the others.
    np.testing.assert_allclose(fixed, [[0, 1, 0], [0.5, 0, 0.5], [0, 1, 0]])


def test_thompson_candidate_with_less_exploration_is_greedier():
    rng = np.random.default_rng(1)
    post, X = _posterior(rng)
    data = _logged(X[:50])
    wide = action_probabilities(Candidate("thompson", propensity_floor=0.0), data, lambda v: post)
    narrow = action_probabilities(Candidate("thompson", propensity_floor=0.0, exploration=0.1),
                                  data, lambda v: post)
    assert narrow.max(axis=1).mean() > wide.max(axis=1).mean() + 0.05
    np.testing.assert_array_equal(narrow.argmax(axis=1), wide.argmax(axis=1))


def test_the_bounded_options_reach_the_candidate_the_service_would_run():
    """A service run with BANDIT_ROUTER_THOMPSON_TRUNCATE / _FLOOR_BOUNDED is evaluated with
    the same rule: the candidate's probabilities are those of the truncated policy."""
    rng = np.random.default_rng(3)
    post, X = _posterior(rng)
    data = _logged(X[:20])
    cand = Candidate("thompson", propensity_floor=0.0, truncate=True, floor_bounded=True)
    assert cand.policy() == ThompsonSampling(propensity_floor=0.0, truncate=True,
                                             floor_bounded=True)
    assert "truncate" in cand.describe() and "floor_bounded" in cand.describe()
    pi = action_probabilities(cand, data, lambda v: post)
    plain = action_probabilities(Candidate("thompson", propensity_floor=0.0), data,
                                 lambda v: post)
    view = post.view(ARMS)
    for x, row in zip(X[:20], pi):
        np.testing.assert_allclose(row, cand.policy().probabilities(view, x), atol=1e-12)
    assert np.abs(pi - plain).max() > 1e-3  # not the untruncated rule


def test_cost_weight_moves_the_candidate_to_the_cheap_arm():
    rng = np.random.default_rng(2)
    post, X = _posterior(rng)
    cost = np.tile([1.0, 1.0, 0.0], (50, 1))
    data = _logged(X[:50], cost=cost)
    greedy = Candidate("linucb", alpha=0.0, propensity_floor=0.0, cost_weight=100.0)
    pi = action_probabilities(greedy, data, lambda v: post)
    assert np.all(pi[:, 2] == 1.0)


def test_each_decision_uses_the_posterior_of_its_own_version():
    rng = np.random.default_rng(3)
    post, X = _posterior(rng)
    empty = Posterior.from_prior([], X.shape[1], Prior(optimism=0.0))
    data = _logged(X[:20])
    data = LoggedBandit(**{**data.__dict__, "versions": np.repeat([0, 7], 10)})
    seen = []

    def source(v):
        seen.append(v)
        return empty if v == 0 else post

    cand = Candidate("linucb", alpha=0.0, propensity_floor=0.0)
    pi = action_probabilities(cand, data, source)
    assert seen == [0, 7]
    np.testing.assert_array_equal(pi[10:], action_probabilities(cand, data, lambda v: post)[10:])
    np.testing.assert_array_equal(pi[:10, 0], 1.0)  # a flat prior ties; the first arm wins


def test_replayed_posteriors_only_know_the_decisions_before_each_refit():
    rng = np.random.default_rng(4)
    _, X = _posterior(rng, n=250)
    data = LoggedBandit(arms=ARMS, actions=rng.integers(0, 3, 250), rewards=rng.random(250),
                        costs=np.zeros(250), propensities=np.full(250, 1 / 3),
                        eligible=np.ones((250, 3), bool), X=X)
    replay = ReplayedPosteriors(data, PolicySpec(drift=None), refit_every=100)
    assert list(np.unique(replay_versions(250, 100))) == [0, 1, 2]
    for v in (2, 1):  # going back re-starts the replay
        stats = SufficientStats.empty(list(ARMS), X.shape[1])
        rows = slice(0, 100 * v)
        stats.update(data.actions[rows], X[rows], data.rewards[rows])
        np.testing.assert_allclose(replay(v).theta, Posterior.fit(stats, Prior()).theta)


def test_replayed_posteriors_learn_prices_from_the_logged_estimate_and_charge():
    # Arm a is charged a fifth of its estimate where the second feature is positive, three
    # times it elsewhere; the replay learns that, as the refit job would, and the candidate's
    # probabilities price a's calls by it.
    rng = np.random.default_rng(5)
    n = 600
    X = np.column_stack([np.ones(n), np.sign(rng.normal(size=n)), rng.normal(size=(n, 2))])
    actions = rng.integers(0, 3, n)
    arm_costs = np.full((n, 3), 0.01)
    costs = arm_costs[np.arange(n), actions] * np.where((actions == 0) & (X[:, 1] > 0), 0.2,
                                                        np.where(actions == 0, 3.0, 1.0))
    data = LoggedBandit(arms=ARMS, actions=actions, rewards=np.full(n, 0.5), costs=costs,
                        propensities=np.full(n, 1 / 3), eligible=np.ones((n, 3), bool), X=X,
                        arm_costs=arm_costs)
    post = ReplayedPosteriors(data, PolicySpec(drift=None), refit_every=n)(1)
    view = post.view(ARMS)
    cheap, dear = view.learned_cost(X[X[:, 1] > 0][0], arm_costs[0]), view.learned_cost(
        X[X[:, 1] < 0][0], arm_costs[0])
    assert cheap[0] < 0.004 and dear[0] > 0.025
    np.testing.assert_allclose([cheap[1:], dear[1:]], 0.01, rtol=0.05)
    without = LoggedBandit(arms=ARMS, actions=actions, rewards=np.full(n, 0.5), costs=costs,
                           propensities=np.full(n, 1 / 3), eligible=np.ones((n, 3), bool), X=X)
    assert ReplayedPosteriors(without, PolicySpec(drift=None), n)(1).view(ARMS).cost_w is None
