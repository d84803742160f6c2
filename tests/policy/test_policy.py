"""Policies: correct propensities, the exploration floor, eligibility, and learning."""

from __future__ import annotations

import numpy as np
import pytest

from bandit_router.policy import (
    LinUCB,
    NoEligibleArm,
    Posterior,
    Prior,
    SufficientStats,
    ThompsonSampling,
)


def _trained_view(rng, d=6, arms=("a", "b", "c")):
    stats = SufficientStats.empty(list(arms), d)
    X = rng.normal(size=(300, d))
    X[:, 0] = 1.0
    idx = rng.integers(0, len(arms), 300)
    true = rng.normal(size=(len(arms), d)) * 0.3
    r = np.einsum("nd,nd->n", X, true[idx]) + rng.normal(scale=0.1, size=300)
    stats.update(idx, X, r)
    return Posterior.fit(stats, Prior(optimism=0.0)).view(list(arms)), X


@pytest.mark.parametrize("floor", [0.0, 0.05])
def test_thompson_propensity_matches_the_observed_choice_frequency(floor):
    rng = np.random.default_rng(7)
    view, X = _trained_view(rng)
    policy = ThompsonSampling(propensity_floor=floor)
    x = X[0]
    n = 20_000
    picks = np.zeros(3)
    reported = np.zeros(3)
    for _ in range(n):
        c = policy.choose(view, x, rng)
        picks[c.index] += 1
        reported[c.index] = c.propensity
    freq = picks / n
    for k in range(3):
        if picks[k]:
            assert reported[k] == pytest.approx(freq[k], abs=0.015)


def test_linucb_propensity_is_exact_with_the_floor():
    rng = np.random.default_rng(3)
    view, X = _trained_view(rng)
    policy = LinUCB(propensity_floor=0.05, alpha=1.0)
    props = {}
    for _ in range(2000):
        c = policy.choose(view, X[1], rng)
        props.setdefault(c.index, set()).add(round(c.propensity, 12))
    greedy = [k for k, p in props.items() if max(p) > 0.5]
    assert len(greedy) == 1
    assert props[greedy[0]] == {round(1 - 0.15 + 0.05, 12)}
    for k, p in props.items():
        if k != greedy[0]:
            assert p == {0.05}


def test_every_propensity_respects_the_floor():
    rng = np.random.default_rng(0)
    view, X = _trained_view(rng)
    for policy in (ThompsonSampling(propensity_floor=0.02), LinUCB(propensity_floor=0.02)):
        for x in X[:200]:
            assert policy.choose(view, x, rng).propensity >= 0.02 - 1e-12


def test_ineligible_arms_are_never_chosen_even_by_exploration():
    rng = np.random.default_rng(1)
    view, X = _trained_view(rng)
    policy = ThompsonSampling(propensity_floor=0.3)
    eligible = np.array([False, True, True])
    chosen = {policy.choose(view, X[i % 50], rng, eligible=eligible).index for i in range(500)}
    assert chosen == {1, 2}
    with pytest.raises(NoEligibleArm):
        policy.choose(view, X[0], rng, eligible=np.zeros(3, bool))


def test_cost_weight_moves_choices_to_the_cheaper_arm():
    stats = SufficientStats.empty(["cheap", "dear"], 2)
    X = np.tile([1.0, 0.0], (400, 1))
    stats.update(np.repeat([0, 1], 200), X, np.r_[np.full(200, 0.7), np.full(200, 0.8)])
    view = Posterior.fit(stats, Prior()).view(["cheap", "dear"])
    rng = np.random.default_rng(0)
    policy = LinUCB(propensity_floor=0.0, alpha=0.0)
    cost = np.array([0.001, 0.01])
    assert policy.choose(view, X[0], rng, cost=cost, cost_weight=0.0).index == 1
    assert policy.choose(view, X[0], rng, cost=cost, cost_weight=100.0).index == 0


def test_decay_halves_weight_after_one_half_life_and_updates_add_up():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 3))
    r = rng.random(40)
    idx = rng.integers(0, 2, 40)
    one = SufficientStats.empty(["a", "b"], 3)
    one.update(idx, X, r)
    two = SufficientStats.empty(["a", "b"], 3)
    two.update(idx[:25], X[:25], r[:25])
    two.update(idx[25:], X[25:], r[25:])
    np.testing.assert_allclose(one.A, two.A)
    one.decay_to(10.0, half_life=10.0)
    assert one.n.sum() == pytest.approx(20.0)


def test_untried_arms_get_the_optimistic_prior():
    view = Posterior.from_prior(["x"], 4, Prior(optimism=0.9)).view(["x", "never-seen"])
    mean, sd = view.predict(np.array([1.0, 0.2, 0.0, 0.0]))
    np.testing.assert_allclose(mean, [0.9, 0.9])
    assert (sd > 0).all()


def test_the_spread_equals_the_exact_quadratic_form_for_any_dimension():
    rng = np.random.default_rng(3)
    for d in (1, 2, 3, 5, 17, 281):
        stats = SufficientStats.empty(["a", "b", "c"], d)
        X = rng.normal(size=(60, d))
        stats.update(rng.integers(0, 3, 60), X, rng.random(60))
        post = Posterior.fit(stats, Prior(evidence="none", subspace="off"))  # diag(precision)
        view = post.view(["a", "b", "c"])
        x = rng.normal(size=d)
        exact = [np.sqrt(x @ np.linalg.inv(post.prior.precision * np.eye(d) + stats.A[j]) @ x)
                 * post.sigma[j] for j in range(3)]
        np.testing.assert_allclose(view.predict(x)[1], exact, rtol=1e-4)
