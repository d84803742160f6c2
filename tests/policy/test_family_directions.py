"""Request families learned online as a block of their own (Prior.family_directions, issue #17,
sixth session): the subspace prior's leading word directions get a precision of their own."""

from __future__ import annotations

import numpy as np
import pytest

from bandit_router.policy import (
    Observations,
    PolicySpec,
    Prior,
    SufficientStats,
    ThompsonSampling,
    learn,
)
from bandit_router.policy import evidence
from bandit_router.policy.subspace import TIGHTER

D, HEAD, W = 1 + 8 + 48, 9, 48  # bias, 8 structure signals, 48 word features
FAMILIES, ARMS = 4, ("a", "b", "c", "d", "e", "f")


def _world(rng):
    """Requests from four families (a centroid each in the word block, plus noise in every
    word direction) and each arm's mean reward per family: a different arm best on each."""
    centroids = rng.normal(size=(FAMILIES, W))
    quality = rng.uniform(0.3, 0.8, size=(len(ARMS), FAMILIES))
    return centroids, quality


def _requests(rng, centroids, n):
    fam = rng.integers(0, FAMILIES, n)
    X = np.zeros((n, D))
    X[:, 0] = 1.0
    X[:, 1:HEAD] = rng.normal(scale=0.3, size=(n, HEAD - 1))
    X[:, HEAD:] = 0.15 * centroids[fam] + rng.normal(scale=0.5, size=(n, W))
    return X, fam


def _fit(family_directions, seed, n=1000):
    """A posterior after ``n`` requests routed uniformly at random (a bandit's feedback: one
    arm's 0/1 outcome each), and its mean absolute error on every (arm, family) mean."""
    rng = np.random.default_rng(seed)
    centroids, quality = _world(rng)
    X, fam = _requests(rng, centroids, n)
    arm = rng.integers(0, len(ARMS), n)
    reward = (rng.random(n) < quality[arm, fam]).astype(float)
    prior = Prior(family_directions=family_directions, words=W)
    spec = PolicySpec(prior=prior)
    stats = SufficientStats.empty(list(ARMS), D)
    post = None
    for lo in range(0, n, 100):  # the simulator's refits: one learning step per 100
        rows = slice(lo, lo + 100)
        obs = Observations(ARMS, arm[rows], X[rows], reward[rows])
        post = learn(spec, stats, [obs], now=0.0).posterior
        stats = post.stats
    Xt, ft = _requests(rng, centroids, 2000)
    pred = Xt @ post.theta.T  # (n, K)
    err = [abs(pred[ft == f, k].mean() - quality[k, f]) for k in range(len(ARMS))
           for f in range(FAMILIES)]
    return post, float(np.mean(err))


def test_off_is_the_rule_before():
    assert Prior().family_directions == 0
    assert evidence.blocks(20, 9, False) == evidence.blocks(20, 9, False, lead=0) == [
        slice(1, 9), slice(9, 20)]
    assert evidence.blocks(20, 9, False, lead=4) == [slice(1, 9), slice(9, 13), slice(13, 20)]
    assert evidence.blocks(20, 9, True, lead=30) == [slice(0, 1), slice(1, 9), slice(9, 20)]
    # the default's bits are pinned by tests/policy/test_propensity_native.py's digest


def test_the_leading_directions_learn_a_precision_of_their_own():
    post, _ = _fit(4, 1)
    lam = post.stats.precision
    assert post.basis.r >= 4
    lead, rest = lam[:, HEAD:HEAD + 4], lam[:, HEAD + 4:]
    assert np.all(lead == lead[0, 0]) and np.all(rest == rest[0, 0])
    assert lead[0, 0] != rest[0, 0]
    # in x's units the families' directions keep a looser prior than the tightened words
    # (whose z coordinates are scaled by 1/√TIGHTER: precision × TIGHTER in x's units)
    assert lead[0, 0] < rest[0, 0] * TIGHTER


def test_each_arms_family_means_are_learned_better_from_bandit_feedback():
    # 1,000 requests over six arms (about 40 per arm and family), families that hold little
    # of the words' energy: an average arm's evidence supports few principal directions, so
    # the default prior holds most of the families' directions 10x tighter; their own block
    # lets each arm's prediction follow the family.
    seeds = range(6)
    off = [_fit(0, s)[1] for s in seeds]
    on = [_fit(4, s)[1] for s in seeds]
    assert np.mean(on) < 0.9 * np.mean(off)
    assert sum(a < b for a, b in zip(on, off)) >= 5


def test_thompson_logs_exactly_its_probabilities():
    post, _ = _fit(4, 2)
    view = post.view(ARMS + ("untried",))
    policy = ThompsonSampling(propensity_floor=0.001, floor_mass=0.05, floor_prune=2.0)
    rng = np.random.default_rng(0)
    X, _ = _requests(rng, _world(np.random.default_rng(2))[0], 20)
    cost = np.linspace(0.001, 0.01, len(ARMS) + 1)
    for x in X:
        ch = policy.choose(view, x, rng, cost=cost, cost_weight=20.0)
        p = policy.probabilities(view, x, cost=cost, cost_weight=20.0)
        assert ch.propensity == pytest.approx(p[ch.index], rel=1e-12)
        assert p.sum() == pytest.approx(1.0, abs=2e-3)


def test_the_setting_and_the_knob_reach_the_prior(monkeypatch):
    from pydantic import ValidationError

    from bandit_router.config import Settings
    from simulations.cli import build_policies

    monkeypatch.setenv("BANDIT_ROUTER_PRIOR_FAMILY_DIRECTIONS", "8")
    assert Settings().policy_spec().prior.family_directions == 8
    monkeypatch.setenv("BANDIT_ROUTER_PRIOR_SUBSPACE", "off")
    with pytest.raises(ValidationError, match="FAMILY_DIRECTIONS needs the subspace prior"):
        Settings()
    (cfg,) = build_policies("thompson:family_directions=8", 100, PolicySpec())
    assert cfg.spec.prior.family_directions == 8
    for bad in (-1, 2.5):
        with pytest.raises(ValueError, match="family_directions"):
            Prior(family_directions=bad)
    with pytest.raises(ValueError, match="needs the subspace prior"):
        Prior(family_directions=4, subspace="off")


def test_family_evidence_per_arm_learns_each_models_own_family_precision():
    # arm "a" differs by family, arm "b" not at all: per arm, "a"'s family block is looser
    rng = np.random.default_rng(4)
    centroids = rng.normal(size=(FAMILIES, W))
    quality = np.array([[0.2, 0.9, 0.3, 0.8], [0.6, 0.6, 0.6, 0.6]])
    X, fam = _requests(rng, centroids, 1200)
    arm = rng.integers(0, 2, 1200)
    reward = (rng.random(1200) < quality[arm, fam]).astype(float)
    obs = Observations(("a", "b"), arm, X, reward)
    fits = {}
    for mode in ("shared", "arm"):
        prior = Prior(family_directions=4, family_evidence=mode, words=W)
        fits[mode] = learn(PolicySpec(prior=prior), SufficientStats.empty(["a", "b"], D),
                           [obs], now=0.0).posterior.stats.precision
    shared, own = fits["shared"], fits["arm"]
    lead = slice(HEAD, HEAD + 4)
    assert shared[0, HEAD] == shared[1, HEAD]
    assert own[0, HEAD] < own[1, HEAD]  # "a" needs its family weights, "b" does not
    assert np.all(own[:, lead] == own[:, [HEAD]])  # one precision per arm and block
    assert own[0, 1] == own[1, 1] and own[0, -1] == own[1, -1]  # the other blocks shared
    with pytest.raises(ValueError, match="family_evidence"):
        Prior(family_directions=4, family_evidence="each")
