"""The exploration floor's two rules: per model (the rule before issue #17) and a total mass
independent of K, optionally kept off dominated models. Propensities must stay exact."""

from __future__ import annotations

import numpy as np
import pytest

from bandit_router.policy import LinUCB, Posterior, Prior, SufficientStats, ThompsonSampling
from bandit_router.policy.spec import PolicySpec


def _view(rng, k, d=5, n=400, gap=0.0):
    """A fitted view over ``k`` arms; arm j's mean reward is lowered by ``gap · j``."""
    arms = [f"m{j}" for j in range(k)]
    stats = SufficientStats.empty(arms, d)
    X = rng.normal(size=(n, d))
    X[:, 0] = 1.0
    idx = rng.integers(0, k, n)
    true = rng.normal(size=(k, d)) * 0.1
    true[:, 0] = 0.8 - gap * np.arange(k)
    r = np.einsum("nd,nd->n", X, true[idx]) + rng.normal(scale=0.1, size=n)
    stats.update(idx, X, r)
    return Posterior.fit(stats, Prior(optimism=0.0)).view(arms), X


@pytest.mark.parametrize("policy", [
    ThompsonSampling(floor_mass=0.2),
    ThompsonSampling(floor_mass=0.3, floor_prune=1.0, propensity_floor=0.02),
])
def test_thompson_propensities_match_the_choice_frequencies(policy):
    rng = np.random.default_rng(11)
    view, X = _view(rng, 4, gap=0.05)
    x = X[0]
    n = 20_000
    picks = np.zeros(4)
    reported = np.full(4, np.nan)
    for _ in range(n):
        c = policy.choose(view, x, rng)
        picks[c.index] += 1
        reported[c.index] = c.propensity
    probs = policy.probabilities(view, x)
    assert probs.sum() == pytest.approx(1.0)
    for k in range(4):
        assert picks[k] > 0  # the floor reaches every arm
        assert reported[k] == pytest.approx(probs[k], abs=1e-12)
        assert reported[k] == pytest.approx(picks[k] / n, abs=0.012)


def test_the_total_mass_does_not_grow_with_the_number_of_models():
    rng = np.random.default_rng(4)
    for k in (2, 3, 10, 40):  # 40 · 0.001 < 0.05: the minimum does not lift the mass
        view, X = _view(rng, k)
        per_model = LinUCB(alpha=0.0, propensity_floor=0.01).probabilities(view, X[0])
        total = LinUCB(alpha=0.0, floor_mass=0.05, propensity_floor=0.001).probabilities(view,
                                                                                      X[0])
        greedy = int(np.argmax(total))
        assert total[greedy] == pytest.approx(1 - 0.05 + 0.05 / k)
        assert np.delete(total, greedy) == pytest.approx(np.full(k - 1, 0.05 / k))
        eps = min(1.0, 0.01 * k)
        assert per_model[greedy] == pytest.approx(1 - eps + eps / k)


def test_a_dominated_model_keeps_only_the_minimum_and_the_rest_goes_to_the_open_ones():
    rng = np.random.default_rng(5)
    view, X = _view(rng, 5, n=3000, gap=0.2)  # arms 2..4 far below arm 0, tightly known
    policy = LinUCB(alpha=0.0, floor_mass=0.1, floor_prune=2.0, propensity_floor=0.001)
    mean, sd = view.predict(X[0])
    upper, lower = mean + 2 * sd, mean - 2 * sd
    dominated = upper < lower.max()
    assert dominated[2:].all() and not dominated[0]
    p = policy.probabilities(view, X[0])
    assert p[dominated] == pytest.approx(np.full(dominated.sum(), 0.001))
    open_ = np.flatnonzero(~dominated)
    share = (0.1 - 0.001 * dominated.sum()) / len(open_)
    greedy = int(np.argmax(mean))
    assert p[greedy] == pytest.approx(1 - 0.1 + share)
    assert p.sum() == pytest.approx(1.0)
    assert p.min() >= policy.min_propensity(5) - 1e-15
    # at a cost weight that makes the best arm dearer than it is better, it is pruned instead
    cost = np.array([0.01, 0.0, 0.0, 0.0, 0.0])
    p_cost = policy.probabilities(view, X[0], cost=cost, cost_weight=100.0)
    assert p_cost[0] == pytest.approx(0.001)


def test_every_propensity_respects_the_stated_minimum():
    rng = np.random.default_rng(6)
    view, X = _view(rng, 6, gap=0.05)
    for policy in (ThompsonSampling(floor_mass=0.03),
                   ThompsonSampling(floor_mass=0.03, floor_prune=2.0, propensity_floor=0.001),
                   LinUCB(floor_mass=0.03, floor_prune=1.0, propensity_floor=0.002)):
        low = policy.min_propensity(6)
        assert low > 0
        for x in X[:100]:
            assert policy.choose(view, x, rng).propensity >= low - 1e-15
            assert policy.probabilities(view, x).min() >= low - 1e-15
    assert ThompsonSampling(floor_mass=0.03,
                            propensity_floor=0.001).min_propensity(6) == pytest.approx(0.005)
    assert ThompsonSampling(floor_mass=0.03, floor_prune=2.0,
                            propensity_floor=0.001).min_propensity(6) == 0.001
    assert ThompsonSampling(propensity_floor=0.01).min_propensity(200) == 0.005


def test_the_per_model_rule_draws_as_before():
    """Same generator, same choices and propensities as the rule before issue #17."""
    rng = np.random.default_rng(8)
    view, X = _view(rng, 10, gap=0.02)
    policy = ThompsonSampling(propensity_floor=0.01)
    a, b = np.random.default_rng(1), np.random.default_rng(1)
    for x in X[:300]:
        c = policy.choose(view, x, a)
        # the old rule, written out: ε = floor·K, uniform draw with probability ε
        mean, sd = view.predict(x)
        score = mean + sd * b.standard_normal(10)
        explored = b.random() < 0.1
        index = int(b.choice(np.arange(10))) if explored else int(np.argmax(score))
        p = policy._argmax_probability(index, mean, sd, np.arange(10))
        assert (c.index, c.explored) == (index, explored)
        assert c.propensity == 0.9 * p + 0.1 / 10


@pytest.mark.parametrize("knobs,match", [
    ({"floor_mass": 0.0, "floor_prune": 2.0}, "floor_prune needs floor_mass"),
    ({"floor_mass": 0.7}, "floor_mass"),
    ({"floor_mass": -0.1}, "floor_mass"),
    ({"floor_mass": 0.1, "floor_prune": -1.0}, "floor_prune"),
])
def test_bad_floor_knobs_are_refused(knobs, match):
    with pytest.raises(ValueError, match=match):
        PolicySpec(**knobs)
    with pytest.raises(ValueError, match=match):
        ThompsonSampling(**knobs)


def test_the_spec_passes_the_floor_to_both_linear_kinds():
    spec = PolicySpec(floor_mass=0.05, floor_prune=2.0, propensity_floor=0.001)
    assert spec.policy() == ThompsonSampling(floor_mass=0.05, floor_prune=2.0,
                                             propensity_floor=0.001)
    assert PolicySpec(kind="linucb", floor_mass=0.05, floor_prune=0.0,
                      propensity_floor=0.01).policy() == LinUCB(floor_mass=0.05)


def test_the_default_is_a_total_mass_kept_off_dominated_models():
    """What the service, the simulator and the benchmarks run unless told otherwise."""
    spec = PolicySpec()
    assert (spec.floor_mass, spec.floor_prune, spec.propensity_floor) == (0.02, 2.0, 0.001)
    assert spec.policy().min_propensity(10) == 0.001


def test_settings_carry_the_floor_to_the_service_spec(monkeypatch):
    from pydantic import ValidationError

    from bandit_router.config import Settings

    monkeypatch.setenv("BANDIT_ROUTER_FLOOR_MASS", "0.04")
    monkeypatch.setenv("BANDIT_ROUTER_FLOOR_PRUNE", "1.5")
    monkeypatch.setenv("BANDIT_ROUTER_PROPENSITY_FLOOR", "0.002")
    spec = Settings().policy_spec()
    assert (spec.floor_mass, spec.floor_prune, spec.propensity_floor) == (0.04, 1.5, 0.002)
    monkeypatch.setenv("BANDIT_ROUTER_FLOOR_MASS", "0")
    with pytest.raises(ValidationError, match="FLOOR_PRUNE needs"):
        Settings()


@pytest.mark.parametrize("prune", [0.0, 2.0])
def test_the_minimum_holds_when_it_asks_for_more_than_the_mass(prune):
    """propensity_floor · n above floor_mass lifts the mass: the minimum is a promise."""
    rng = np.random.default_rng(9)
    view, X = _view(rng, 6, n=3000, gap=0.2)
    policy = LinUCB(alpha=0.0, floor_mass=0.05, floor_prune=prune, propensity_floor=0.02)
    assert policy.min_propensity(6) == pytest.approx(0.02)
    for x in X[:50]:
        p = policy.probabilities(view, x)
        assert p.min() == pytest.approx(0.02)  # 6 · 0.02 = 0.12 > 0.05: every arm at 0.02
        assert p.sum() == pytest.approx(1.0)
