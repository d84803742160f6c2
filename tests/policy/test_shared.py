"""A context predictor shared by all models as their prior mean (Prior.shared, issue #17)."""

from __future__ import annotations

import numpy as np
import pytest

from bandit_router.policy import PolicySpec, Posterior, Prior, SufficientStats, ThompsonSampling
from bandit_router.policy import shared

D, HEAD, W = 30, 9, 16  # bias, 8 structure signals, 16 word features, 5 caller features
LEVEL = {"a": 0.9, "b": 0.7, "c": 0.5}


def _requests(rng, n):
    X = np.zeros((n, D))
    X[:, 0] = 1.0
    X[:, 1:HEAD] = rng.normal(scale=0.3, size=(n, HEAD - 1))
    X[:, HEAD:HEAD + W] = rng.normal(scale=0.5, size=(n, W))
    return X


def _world(rng, counts):
    """Every model's reward falls with one difficulty direction, at its own level."""
    hard = np.zeros(D)
    hard[1], hard[HEAD] = 0.5, 0.3
    st = SufficientStats.empty(list(counts), D)
    for i, (arm, n) in enumerate(counts.items()):
        X = _requests(rng, n)
        r = LEVEL.get(arm, 0.6) - X @ hard + rng.normal(scale=0.2, size=n)
        st.update(np.full(n, i), X, r)
    return st, hard


def _prior(mode, **kw):
    return Prior(shared=mode, words=W, **kw)


def test_a_model_with_little_data_follows_the_difficulty_the_others_learned():
    st, hard = _world(np.random.default_rng(0), {"a": 400, "b": 400, "c": 8})
    easy, tough = np.zeros(D), np.zeros(D)
    easy[0] = tough[0] = 1.0
    easy[[1, HEAD]], tough[[1, HEAD]] = -1.0, 1.0
    gap = {}
    for mode in ("off", "mean", "scale", "direction"):
        view = Posterior.fit(st, _prior(mode)).view(("c", "new"))
        gap[mode] = view.predict(easy)[0] - view.predict(tough)[0]  # true gap 2·0.8 = 1.6
    assert np.all(gap["off"] < 0.6)
    assert np.all(gap["mean"] > 1.2) and np.all(gap["scale"] > 1.2)
    # the bias keeps its optimism: an untried model is still expected to earn ``optimism``
    # at the mean request, so it is explored as before
    avg = st.A[:, 0].sum(axis=0) / st.n.sum()
    for mode in ("mean", "scale"):
        view = Posterior.fit(st, _prior(mode)).view(("new",))
        assert view.predict(avg)[0][0] == pytest.approx(1.0)
        assert view.predict(avg + 2 * hard)[0][0] < 0.5  # and less at a hard one


def _others_fit(st, k, context_precision):
    """The context weights of the stacked regression of every model but ``k``: one free
    intercept per model, ``context_precision`` (D−1, D−1) on the context weights; its normal
    equations written from the statistics, by hand."""
    others = [j for j in range(len(st.arms)) if j != k]
    m = len(others)
    P = np.zeros((m + D - 1, m + D - 1))
    rhs = np.zeros(m + D - 1)
    for i, j in enumerate(others):
        P[i, i] = st.A[j, 0, 0]
        P[i, m:] = P[m:, i] = st.A[j, 0, 1:]
        P[m:, m:] += st.A[j, 1:, 1:]
        rhs[i] = st.b[j, 0]
        rhs[m:] += st.b[j, 1:]
    P[m:, m:] += context_precision
    return np.linalg.solve(P, rhs)[m:]


def test_the_shared_weights_are_the_within_model_ridge_fit_of_the_other_models():
    rng = np.random.default_rng(1)
    st, _ = _world(rng, {"a": 60, "b": 50, "c": 40})
    lam = np.full(D, 10.0)
    got = shared.weights(st.A, st.b, lam)
    for k in range(3):
        want = _others_fit(st, k, np.diag(lam[1:]))  # ridge λ on the context weights
        np.testing.assert_allclose(got[k, 1:], want, atol=1e-10)
        # centred on the traffic: no change of level at the mean request
        xbar = st.A[:, 0, 1:].sum(axis=0) / st.n.sum()
        assert got[k, 0] == pytest.approx(-want @ xbar)
    # a model without data gets the fit of all (leave one out leaves nothing out)
    full = shared.weights(st.A, st.b, lam, leave_out=False)
    st2 = st.with_arms(["a", "b", "c", "new"])
    np.testing.assert_allclose(shared.weights(st2.A, st2.b, lam)[3], full, atol=1e-12)


@pytest.mark.parametrize("mode", ["scale", "direction"])
@pytest.mark.parametrize("subspace", ["off", "3"])
def test_the_fit_is_the_exact_posterior_under_the_shared_prior(subspace, mode):
    st, _ = _world(np.random.default_rng(2), {"a": 80, "b": 60, "c": 30})
    prior = _prior(mode, subspace=subspace, evidence="none", noise_dof=0.0)
    post = Posterior.fit(st, prior)
    lam = np.full(D, 10.0)
    cov0 = np.diag(1.0 / lam)
    if post.basis is not None:  # the split prior of policy/subspace.py, by hand
        u = post.basis.q[:, :3]
        block = 10.0 * (u @ u.T + 100.0 * (np.eye(W) - u @ u.T))
        prec = np.diag(lam)
        prec[HEAD:HEAD + W, HEAD:HEAD + W] = block
        cov0 = np.linalg.inv(prec)
    tau2 = shared.SCALE_SD ** 2 / prior.noise_var
    for k in range(3):
        # the shared weights under the same prior shape, from the other models' rows
        w = np.concatenate([[0.0], _others_fit(st, k, np.linalg.inv(cov0)[1:, 1:])])
        xbar = st.A[:, 0].sum(axis=0) / st.n.sum()
        mu = w + np.eye(D)[0] * (prior.optimism - w @ xbar)
        if mode == "direction":  # the loose direction alone: the prior mean is the plain one
            mu = np.eye(D)[0] * prior.optimism
        prior_prec = np.linalg.inv(cov0 + tau2 * np.outer(w, w))  # loose along w
        post_prec = st.A[k] + prior_prec
        mean = np.linalg.solve(post_prec, st.b[k] + prior_prec @ mu)
        np.testing.assert_allclose(post.theta[k], mean, atol=1e-8)
        np.testing.assert_allclose(post.rinv[k].T @ post.rinv[k], np.linalg.inv(post_prec),
                                   atol=1e-9)


def test_thompson_propensities_stay_exact_under_the_shared_prior():
    rng = np.random.default_rng(6)
    st, _ = _world(rng, {"a": 40, "b": 30, "c": 20})
    prior = _prior("scale", subspace="off", evidence="none", noise_dof=0.0, exploration=0.5)
    post = Posterior.fit(st, prior)
    view = post.view(("b", "c", "new"))
    x = _requests(rng, 1)[0]
    probs = ThompsonSampling(propensity_floor=0.0).probabilities(view, x)
    n = 40_000
    draws = np.empty((n, 3))
    for i in range(3):
        cov = view.sigma[i] ** 2 * (view.rinv[i].T @ view.rinv[i])
        draws[:, i] = rng.multivariate_normal(view.theta[i], cov, size=n) @ x
    freq = np.bincount(draws.argmax(axis=1), minlength=3) / n
    assert probs.min() > 0.02
    np.testing.assert_allclose(probs, freq, atol=0.01)


def test_a_stored_posterior_keeps_the_setting_and_scores_the_same():
    st, _ = _world(np.random.default_rng(3), {"a": 50, "b": 50})
    post = Posterior.fit(st, _prior("scale"))
    back = Posterior.from_bytes(post.to_bytes())
    assert back.prior.shared == "scale"
    x = _requests(np.random.default_rng(4), 1)[0]
    for arms in (("a", "b"), ("new", "a")):
        np.testing.assert_allclose(back.view(arms).predict(x)[0], post.view(arms).predict(x)[0])
        np.testing.assert_allclose(back.view(arms).predict(x)[1], post.view(arms).predict(x)[1])


def test_settings_and_simulator_knob_reach_the_prior(monkeypatch):
    from pydantic import ValidationError

    from bandit_router.config import Settings
    from simulations.cli import build_policies

    assert Prior().shared == "off"
    monkeypatch.setenv("BANDIT_ROUTER_PRIOR_SHARED", "mean")
    assert Settings().policy_spec().prior.shared == "mean"
    monkeypatch.setenv("BANDIT_ROUTER_PRIOR_SHARED", "all")
    with pytest.raises(ValidationError, match="shared"):
        Settings()
    (a,) = build_policies("thompson:shared=scale", 100, PolicySpec())
    assert a.spec.prior.shared == "scale"
    with pytest.raises(ValueError, match="shared"):
        Prior(shared="both")
    with pytest.raises(ValueError, match="alternatives"):
        Prior(shared="mean", pool=1.0)
