"""The words' principal directions as the prior's shape (Prior.subspace, issue #17)."""

from __future__ import annotations

import numpy as np
import pytest

from bandit_router.policy import (
    Observations,
    PolicySpec,
    Posterior,
    Prior,
    SufficientStats,
    ThompsonSampling,
    learn,
)
from bandit_router.policy.subspace import TIGHTER

D, HEAD, W = 30, 9, 16  # bias, 8 structure signals, 16 word features, 5 caller features


def _traffic(rng, n, span):
    """Requests whose word features lie in the column span of ``span`` (W, r)."""
    X = np.zeros((n, D))
    X[:, 0] = 1.0
    X[:, 1:HEAD] = rng.normal(scale=0.3, size=(n, HEAD - 1))
    X[:, HEAD:HEAD + W] = rng.normal(size=(n, span.shape[1])) @ span.T
    return X


def _stats(rng, span, n=300, arms=("a", "b")):
    X = _traffic(rng, n, span)
    true = rng.normal(scale=0.2, size=(len(arms), D))
    idx = rng.integers(0, len(arms), n)
    r = np.einsum("nd,nd->n", X, true[idx]) + rng.normal(scale=0.3, size=n)
    st = SufficientStats.empty(list(arms), D)
    st.update(idx, X, r)
    return st


def _words(v):
    x = np.zeros(D)
    x[0] = 1.0
    x[HEAD:HEAD + W] = v
    return x


def _prior(mode, **kw):
    return Prior(subspace=mode, words=W, **kw)


@pytest.fixture
def span():
    return np.linalg.qr(np.random.default_rng(5).normal(size=(W, 3)))[0]


def test_words_off_the_traffics_directions_add_a_tenth_of_the_spread(span):
    st = _stats(np.random.default_rng(0), span)
    plain = Posterior.fit(st, _prior("off", evidence="none")).view(("a", "new"))
    split = Posterior.fit(st, _prior("3", evidence="none")).view(("a", "new"))
    off = np.linalg.qr(np.column_stack([span, np.ones(W)]))[0][:, 3]  # orthogonal to the span
    bias = _words(np.zeros(W))
    # a word vector off the span: its spread (beyond the bias's) shrinks by 1/√TIGHTER
    for arm in range(2):
        extra = lambda v: np.sqrt(v.predict(_words(off))[1][arm] ** 2  # noqa: E731
                                  - v.predict(bias)[1][arm] ** 2)
        assert extra(split) == pytest.approx(extra(plain) / np.sqrt(TIGHTER), rel=0.05)
    # along the span nothing changes, for a trained model and for an untried one
    np.testing.assert_allclose(split.predict(_words(span[:, 0]))[1],
                               plain.predict(_words(span[:, 0]))[1], rtol=1e-6)


def test_the_fit_is_the_exact_posterior_under_the_split_prior(span):
    st = _stats(np.random.default_rng(1), span)
    post = Posterior.fit(st, _prior("3", evidence="none", noise_dof=0.0))
    u = post.basis.q[:, :post.basis.r]
    np.testing.assert_allclose(u @ u.T @ span, span, atol=1e-10)  # the traffic's directions
    lam = np.diag(np.full(D, 10.0))
    lam[HEAD:HEAD + W, HEAD:HEAD + W] = 10.0 * (u @ u.T + TIGHTER * (np.eye(W) - u @ u.T))
    mu0 = np.zeros(D)
    mu0[0] = 1.0
    for k in range(2):
        P = st.A[k] + lam
        np.testing.assert_allclose(post.theta[k], np.linalg.solve(P, st.b[k] + lam @ mu0),
                                   atol=1e-10)
        np.testing.assert_allclose(post.rinv[k].T @ post.rinv[k], np.linalg.inv(P), atol=1e-10)
        assert not np.triu(post.rinv[k], 1).any()  # a view reads it as before: banded


def test_with_evidence_the_directions_grow_with_the_traffic():
    rng = np.random.default_rng(2)
    span = np.linalg.qr(rng.normal(size=(W, W)))[0] * np.linspace(2.0, 0.2, W)
    counts = []
    st = SufficientStats.empty(["a", "b"], D)
    for _ in range(6):
        X = _traffic(rng, 200, span)
        st.update(rng.integers(0, 2, 200), X, rng.normal(size=200))
        counts.append(Posterior.fit(st, _prior("evidence")).basis.r)
    assert counts == sorted(counts) and counts[-1] > counts[0] >= 1
    assert Posterior.from_prior(["a"], D, _prior("evidence")).basis is None  # no data: plain


def test_a_stored_posterior_keeps_its_basis_and_scores_the_same(span):
    st = _stats(np.random.default_rng(3), span)
    post = Posterior.fit(st, _prior("evidence"))
    back = Posterior.from_bytes(post.to_bytes())
    np.testing.assert_array_equal(back.basis.q, post.basis.q)
    assert (back.basis.start, back.basis.r) == (post.basis.start, post.basis.r)
    x = _words(np.random.default_rng(4).normal(size=W))
    for arms in (("a", "b"), ("new", "a")):  # an untried model's prior has the same shape
        np.testing.assert_array_equal(back.view(arms).rinv, post.view(arms).rinv)
        assert back.view(arms).predict(x)[1] == pytest.approx(post.view(arms).predict(x)[1])
    # a replica refitting the same statistics finds the same basis and posterior
    again = Posterior.fit(SufficientStats.from_bytes(st.to_bytes()), back.prior)
    np.testing.assert_array_equal(again.basis.q, post.basis.q)
    np.testing.assert_array_equal(again.theta, post.theta)
    bad = Posterior.from_bytes(post.to_bytes())
    bad.basis = type(post.basis)(start=HEAD, q=2 * post.basis.q, r=post.basis.r)
    with pytest.raises(ValueError, match="basis"):
        Posterior.from_bytes(bad.to_bytes())


def test_thompson_propensities_stay_exact_under_the_split_prior(span):
    rng = np.random.default_rng(6)
    X = _traffic(rng, 30, span)  # three models that earn alike: every one has a fair chance
    st = SufficientStats.empty(["a", "b", "c"], D)
    st.update(np.arange(30) % 3, X, 0.5 + rng.normal(scale=0.3, size=30))
    prior = _prior("3", evidence="none", noise_dof=0.0, optimism=0.0, exploration=0.5)
    post = Posterior.fit(st, prior)
    view = post.view(("a", "b", "c"))
    x = _words(0.6 * span[:, 0] + 0.8 * np.linalg.qr(np.column_stack([span, np.ones(W)]))[0][:, 3])
    probs = ThompsonSampling(propensity_floor=0.0).probabilities(view, x)
    # sample whole weight vectors from the posterior under the split prior, built by hand
    u = post.basis.q[:, :3]
    lam = np.diag(np.full(D, 10.0))
    lam[HEAD:HEAD + W, HEAD:HEAD + W] = 10.0 * (u @ u.T + TIGHTER * (np.eye(W) - u @ u.T))
    n = 40_000
    draws = np.empty((n, 3))
    for k in range(3):
        cov = post.sigma[k] ** 2 * np.linalg.inv(st.A[k] + lam)
        draws[:, k] = rng.multivariate_normal(post.theta[k], cov, size=n) @ x
    freq = np.bincount(draws.argmax(axis=1), minlength=3) / n
    assert probs.min() > 0.05  # a comparison where every arm matters
    np.testing.assert_allclose(probs, freq, atol=0.01)


def test_the_learning_step_and_both_front_doors_carry_the_setting(monkeypatch, span):
    from pydantic import ValidationError

    from bandit_router.config import Settings
    from simulations.cli import build_policies

    rng = np.random.default_rng(7)
    X = _traffic(rng, 100, span)
    obs = Observations(("a", "b"), rng.integers(0, 2, 100), X, rng.normal(size=100))
    spec = PolicySpec(prior=_prior("2"))
    learned = learn(spec, SufficientStats.empty([], D), [obs], now=0.0)
    assert learned.posterior.basis.r == 2
    monkeypatch.setenv("BANDIT_ROUTER_PRIOR_SUBSPACE", "evidence")
    settings = Settings()
    prior = settings.policy_spec().prior
    assert prior.subspace == "evidence" and prior.words == settings.feature_buckets
    monkeypatch.setenv("BANDIT_ROUTER_PRIOR_SUBSPACE", "some")
    with pytest.raises(ValidationError, match="'off', 'evidence' or a positive number"):
        Settings()
    (a,) = build_policies("thompson:subspace=16", 100, PolicySpec())
    assert a.spec.prior.subspace == "16"
    for bad in ("-3", "1.5", "many"):
        with pytest.raises(ValueError, match="subspace"):
            Prior(subspace=bad)
