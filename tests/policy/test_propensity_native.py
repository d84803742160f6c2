"""Thompson's propensity integrand from the C helper equals the numpy path's bit for bit, and
every choice and propensity of the policies is pinned, on the C prediction and on the numpy
one: a speed change that moves one bit of what is logged fails here."""

from __future__ import annotations

import hashlib

import numpy as np
from scipy.special import ndtr

from bandit_router.policy import (PolicySpec, Posterior, Prior, SufficientStats, posterior,
                                   thompson)
from tests.features.test_scan import require_built


def _random_case(rng):
    k = int(rng.integers(2, 60))
    u = rng.normal(size=k) * 10 ** rng.uniform(-4, 1)
    s = np.abs(rng.normal(size=k)) * 10 ** rng.uniform(-5, 0, size=k)
    if rng.random() < 0.2:
        s[rng.integers(k)] = 0.0  # the policy floors it at 1e-12
    if rng.random() < 0.2:
        u[rng.integers(k)] = u[0]  # ties
    if rng.random() < 0.1:
        u[rng.integers(k)] += 1e3  # one arm far ahead: factors of exactly 0 and 1
    return u, np.maximum(s, 1e-12), int(rng.integers(k))


def test_the_c_integrand_is_bit_for_bit_the_numpy_one():
    require_built(thompson.NATIVE, "policy/_argmax.c")
    rng = np.random.default_rng(19)
    for _ in range(5000):
        u, s, c = _random_case(rng)
        native = thompson.integrand_native(u, s, c)
        slow = thompson.integrand_numpy(u, s, c)
        assert native.tobytes() == slow.tobytes(), (u, s, c)


def test_the_factors_the_c_helper_skips_are_exactly_one():
    z = np.concatenate([np.linspace(8.5, 60.0, 500_001), np.logspace(1.8, 300, 10_000),
                        [np.inf]])
    assert np.all(ndtr(z) == 1.0)


def _posterior_cases(n: int, seed: int):
    """Posteriors, contexts, prices and eligibility masks of every shape the service meets."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        k = int(rng.integers(1, 13))
        d = int(rng.integers(2, 24))
        arms = [f"m{j}" for j in range(k)]
        stats = SufficientStats.empty(arms, d)
        rows = int(rng.integers(0, 200))
        if rows:
            X = rng.normal(size=(rows, d))
            X[:, 0] = 1.0
            stats.update(rng.integers(0, k, rows), X, rng.random(rows))
        post = Posterior.fit(stats, Prior(evidence=("none", "shared")[i % 2], subspace="off",
                                          exploration=0.5))  # the default when pinned
        order = list(rng.permutation(arms + ["new"]))  # an arm the posterior never saw
        view = post.view(order)
        x = rng.normal(size=d)
        x[0] = 1.0
        cost = rng.random(len(order)) * 1e-3
        eligible = rng.random(len(order)) < 0.8
        eligible[int(rng.integers(len(order)))] = True
        yield view, x, cost, eligible, int(rng.integers(2**32))


# The floor's mass is spelled out (0.05, the default when the digests were pinned): the
# digests pin the decision's code, not the defaults, which simulations choose.
SPECS = (PolicySpec(floor_mass=0.05),
         PolicySpec(propensity_floor=0.01, floor_mass=0.0, floor_prune=0.0),
         PolicySpec(floor_mass=0.05, floor_prune=0.0), PolicySpec(kind="linucb", floor_mass=0.05))


def _digest(n: int = 400, seed: int = 5) -> str:
    h = hashlib.sha256()
    for spec in SPECS:
        policy = spec.policy()
        for view, x, cost, eligible, s in _posterior_cases(n, seed):
            rng = np.random.default_rng(s)
            for weight in (0.0, 300.0):
                ch = policy.choose(view, x, rng, cost=cost, cost_weight=weight,
                                   eligible=eligible)
                h.update(np.array([ch.index, ch.explored], dtype=np.int64).tobytes())
                h.update(np.array([ch.propensity], dtype=np.float64).tobytes())
                h.update(np.asarray(ch.ranking, dtype=np.int64).tobytes())
                for a in (ch.mean, ch.sd, ch.utility, ch.score):
                    h.update(np.asarray(a, dtype=np.float64).tobytes())
    return h.hexdigest()


def test_choices_and_propensities_are_bit_for_bit_those_pinned():
    """3,200 choices (four policy specs × 400 random posteriors × two cost weights), each
    with its own generator state: the chosen arm, whether the floor chose it, the propensity,
    the ranking and every per-arm number. Pinned on the path this machine runs. With the C
    helpers the digest moved twice, on purpose: when issue 19's fifth session made the means
    and spreads in one C call (their last bits are its summation order's, not BLAS's:
    tests/policy/test_predict_native.py bounds the difference), and when its sixth made
    Thompson's decision one C call (policy/_argmax.c, ``choose``), whose propensity integral
    sums in grid order instead of by BLAS's dot: the same choices, rankings, samples and
    random stream, propensities within 1e-14 (tests/policy/test_thompson_native.py). The
    numpy path's digest is main's at c08f5d2, unchanged."""
    assert _digest() == (GOLDEN if posterior.NATIVE else GOLDEN_NUMPY)


GOLDEN = "bf5afb2ac9b5b7e98a736932b2c88a4ac7482f861c218d3c26e5459f2ad73443"
GOLDEN_NUMPY = "b542bb40a499001037a4a45bb2dae10e6d140c5411ea779934488120587cb856"


def test_without_the_c_helpers_the_choices_are_those_pinned_before_them(monkeypatch):
    """What a machine without a compiler runs (``pip install`` without the extensions): the
    numpy prediction and the numpy decision, and the digest computed before issue 19's C
    helpers."""
    monkeypatch.setattr(posterior, "NATIVE", False)
    monkeypatch.setattr(thompson, "NATIVE", False)
    assert _digest() == GOLDEN_NUMPY
