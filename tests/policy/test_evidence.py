"""Prior precision learned by evidence: tight where the rewards ignore a block of features,
loose where they follow it; kept in the statistics so that the next refit starts there."""

from __future__ import annotations

import numpy as np
import pytest

from bandit_router.policy import Observations, Posterior, PolicySpec, Prior, SufficientStats, learn

D, HEAD = 30, 9


def _data(rng, n: int, signal: float, w: np.ndarray | None = None):
    """Contexts with a bias, structure signals and a unit-norm word block; the reward follows
    the word block (weights ``w``) with strength ``signal`` (0: not at all)."""
    X = np.zeros((n, D))
    X[:, 0] = 1.0
    X[:, 1:HEAD] = rng.normal(0.0, 0.3, (n, HEAD - 1))
    words = rng.normal(size=(n, D - HEAD))
    X[:, HEAD:] = words / np.linalg.norm(words, axis=1, keepdims=True)
    if w is None:
        w = rng.normal(size=D - HEAD)
        w *= 3.0 / np.linalg.norm(w)
    p = np.clip(0.5 + signal * X[:, HEAD:] @ w, 0.02, 0.98)
    return X, (rng.random(n) < p).astype(float), p, w


def _fit(X, r, evidence: str) -> Posterior:
    stats = SufficientStats.empty(["a"], D)
    stats.update(np.zeros(len(r), dtype=np.intp), X, r)
    return Posterior.fit(stats, Prior(evidence=evidence))


def test_words_that_do_not_matter_stop_adding_spread_and_words_that_do_are_fitted():
    rng = np.random.default_rng(0)
    X, r, _, _ = _data(rng, 600, signal=0.0)
    fixed, learned = _fit(X, r, "none"), _fit(X, r, "arm")
    assert np.all(learned.stats.precision[0, HEAD:] > 10 * Prior().precision)
    new, *_ = _data(rng, 50, signal=0.0)  # other requests, other words
    sd_fixed = np.array([fixed.view(("a",)).predict(x)[1][0] for x in new])
    sd_learned = np.array([learned.view(("a",)).predict(x)[1][0] for x in new])
    assert np.median(sd_learned / sd_fixed) < 0.7

    X, r, _, w = _data(rng, 300, signal=0.4)
    fixed, learned = _fit(X, r, "none"), _fit(X, r, "arm")
    assert np.all(learned.stats.precision[0, HEAD:] < Prior().precision)
    test, _, p, _ = _data(rng, 500, signal=0.4, w=w)
    error = {name: np.mean((post.view(("a",)).theta[0] @ test.T - p) ** 2)
             for name, post in (("fixed", fixed), ("learned", learned))}
    assert error["learned"] < 0.9 * error["fixed"]


def test_the_learned_precision_is_where_the_next_refit_starts_and_survives_storage():
    rng = np.random.default_rng(1)
    spec = PolicySpec(prior=Prior(evidence="shared", subspace="off"))
    stats = SufficientStats.empty(["a", "b", "c"], D)
    X, r, _, _ = _data(rng, 300, signal=0.0)
    arm = np.arange(300) % 2  # "c" never tried
    learned = learn(spec, stats, [Observations(("a", "b", "c"), arm, X, r)], now=0.0)
    prec = learned.stats.precision
    assert np.all(prec[:2, HEAD:] > 10 * Prior().precision)
    np.testing.assert_allclose(prec[2], spec.prior.precisions(D))  # untried: the fixed prior
    np.testing.assert_allclose(prec[0], prec[1])  # shared: one value per block for all
    again = Posterior.from_bytes(learned.posterior.to_bytes())
    np.testing.assert_array_equal(again.stats.precision, prec)
    # An untried model keeps the fixed prior: it is explored as before.
    view = learned.posterior.view(("c",))
    fresh = Posterior.from_prior(["c"], D, spec.prior).view(("c",))
    np.testing.assert_allclose(view.predict(X[0])[1], fresh.predict(X[0])[1])


def test_unknown_evidence_mode_is_refused():
    with pytest.raises(ValueError, match="evidence"):
        Prior(evidence="sometimes")
