"""The decision's prediction from the C helper (policy/_predict.c) equals the numpy path's
(``ArmView.predict_numpy``, the definition) up to float rounding, on posteriors of every
shape the service meets; without the helper the numpy path answers."""

from __future__ import annotations

import numpy as np
import pytest

from bandit_router.policy import Posterior, Prior, SufficientStats, posterior
from bandit_router.policy import cost as cost_model
from bandit_router.policy.posterior import ArmView
from tests.features.test_scan import _compiler

needs_native = pytest.mark.skipif(not posterior.NATIVE and _compiler() is None,
                                  reason="no C compiler here, so policy/_predict.c was not built")


def test_the_c_prediction_is_built_wherever_a_compiler_is():
    if _compiler() is None:
        pytest.skip("no C compiler here")
    assert posterior.NATIVE, ("a C compiler is here but policy/_predict.c was not built: "
                              "reinstall (pip install -e .) and read hatch_build.py's message")


def _random_view(rng) -> tuple[ArmView, np.ndarray]:
    """A view of K = 1–60 arms and d = 2–300 weights: lower-triangular, dense or banded
    factors, blocks of zeros on and off the diagonal, contexts zero on whole blocks."""
    # log-uniform: every scale, most of the cases small enough to be quick
    k, d = int(np.exp(rng.uniform(0, np.log(61)))), int(np.exp(rng.uniform(np.log(2), np.log(301))))
    rinv = rng.normal(size=(k, d, d)) * 10 ** rng.uniform(-3, 1) / np.sqrt(d)
    shape = rng.integers(4)
    if shape == 0:
        rinv = np.tril(rinv)
    elif shape == 1:  # a band of width w under the diagonal
        w = int(rng.integers(1, d + 1))
        rinv = np.tril(rinv) - np.tril(rinv, -w)
    if rng.random() < 0.5:  # a block that stands alone on the diagonal (the callers')
        a = int(rng.integers(1, d))
        rinv[:, a:, :a] = 0.0
        rinv[:, :a, a:] = 0.0
    if rng.random() < 0.2:  # columns no arm's factor uses
        a = int(rng.integers(0, d))
        rinv[:, :, a:a + int(rng.integers(1, d))] = 0.0
    if rng.random() < 0.1:
        rinv[int(rng.integers(k))] = 0.0  # one arm without spread
    theta = rng.normal(size=(k, d)) * 10 ** rng.uniform(-3, 2)
    sigma = rng.random(k) * 10 ** rng.uniform(-2, 1)
    cost_w = rng.normal(size=(k, d)) * 10 ** rng.uniform(-3, 0) if rng.random() < 0.7 else None
    view = ArmView(arms=tuple(f"m{i}" for i in range(k)), theta=theta, rinv=rinv,
                   sigma=sigma, n=np.zeros(k), cost_w=cost_w)
    x = rng.normal(size=d) * 10 ** rng.uniform(-2, 2)
    x[0] = 1.0
    for _ in range(int(rng.integers(0, 3))):  # x zero on blocks (words absent, no caller)
        a = int(rng.integers(0, d))
        x[a:a + int(rng.integers(1, d))] = 0.0
    if rng.random() < 0.05:
        x[:] = 0.0
    return view, x


def _assert_close(view: ArmView, x: np.ndarray, mean, sd, mean_ref, sd_ref) -> None:
    # Rounding scales: float64 for the means, float32 for the spreads (the factors are
    # float32 in both paths, each sums its products in its own order).
    mean_scale = np.abs(view.theta) @ np.abs(x)
    sd_scale = view.sigma * np.linalg.norm(np.abs(view.rinv) @ np.abs(x), axis=1)
    assert mean.shape == sd.shape == (len(view.arms),)
    assert np.all(np.abs(mean - mean_ref) <= 1e-13 * mean_scale), (mean, mean_ref)
    assert np.all(np.abs(sd - sd_ref) <= 2e-6 * sd_scale), (sd, sd_ref)


@needs_native
def test_the_c_prediction_equals_the_numpy_one_on_random_posteriors():
    rng = np.random.default_rng(1905)
    for _ in range(600):
        view, x = _random_view(rng)
        mean, sd = view.predict(x)
        mean_ref, sd_ref = view.predict_numpy(x)
        _assert_close(view, x, mean, sd, mean_ref, sd_ref)
        # … and both equal the exact float64 quadratic form
        exact = view.sigma * np.linalg.norm(np.einsum("kij,j->ki", view.rinv, x), axis=1)
        _assert_close(view, x, mean, sd, view.theta @ x, exact)
        if not x.any():
            assert np.all(sd == 0.0)


@needs_native
def test_the_c_learned_price_equals_the_numpy_one():
    """Clipped at both ends, a price of 0 kept at 0, NaN kept NaN."""
    rng = np.random.default_rng(23)
    for _ in range(400):
        view, x = _random_view(rng)
        k = len(view.arms)
        estimate = rng.random(k) * 1e-3
        estimate[rng.random(k) < 0.1] = 0.0
        got, want = view.learned_cost(x, estimate), view.learned_cost_numpy(x, estimate)
        if view.cost_w is None:
            assert got is estimate
            continue
        scale = estimate * (1.0 + np.abs(view.cost_w) @ np.abs(x))
        assert np.all(np.abs(got - want) <= 1e-13 * scale), (got, want)
    view, x = _random_view(np.random.default_rng(5))
    view = ArmView(arms=view.arms, theta=view.theta, rinv=view.rinv, sigma=view.sigma,
                   n=view.n, cost_w=np.full_like(view.theta, np.nan))
    assert np.isnan(view.learned_cost(x, np.ones(len(view.arms)))).all()
    assert view.learned_cost(x, [1.0] * len(view.arms)).shape == (len(view.arms),)


@needs_native
@pytest.mark.parametrize("prior", [Prior(), Prior(subspace="off", evidence="none"),
                                   Prior(tail_exploration=0.3, tail_precision=100.0)])
def test_the_c_prediction_equals_the_numpy_one_on_fitted_posteriors(prior):
    """Posteriors as the service fits them, with a model they never saw and a block of the
    context that no request uses (the callers' features, when none has sent any)."""
    rng = np.random.default_rng(7)
    for k, d in ((1, 2), (3, 20), (10, 153), (50, 40)):
        arms = [f"m{j}" for j in range(k)]
        stats = SufficientStats.empty(arms, d)
        X = rng.normal(size=(300, d))
        X[:, 0] = 1.0
        X[:, d - d // 5:] = 0.0
        stats.update(rng.integers(0, k, 300), X, rng.random(300))
        view = Posterior.fit(stats, prior).view(arms + ["new"])
        for x in X[:20]:
            _assert_close(view, x, *view.predict(x), *view.predict_numpy(x))


@needs_native
def test_any_context_array_is_read_as_its_float64_values():
    rng = np.random.default_rng(3)
    view, x = _random_view(rng)
    expected = view.predict(x)
    for other in (x.astype(np.float32).astype(np.float64), np.repeat(x, 2)[::2],
                  list(x)):
        got = view.predict(other)
        want = view.predict(np.array(other, dtype=np.float64))
        assert got[0].tobytes() == want[0].tobytes() and got[1].tobytes() == want[1].tobytes()
    assert view.predict(np.repeat(x, 2)[::2])[1].tobytes() == expected[1].tobytes()


@needs_native
def test_a_context_of_the_wrong_length_is_refused():
    view, x = _random_view(np.random.default_rng(4))
    with pytest.raises(ValueError):
        view.predict(np.append(x, 1.0))


def test_without_the_c_helper_predict_is_the_numpy_path(monkeypatch):
    """What a machine without a compiler runs: the numpy definition, bit for bit."""
    monkeypatch.setattr(posterior, "NATIVE", False)
    rng = np.random.default_rng(11)
    for _ in range(50):
        view, x = _random_view(rng)
        mean, sd = view.predict(x)
        mean_ref, sd_ref = view.theta @ x, view.sigma * view._spread.norms(x)
        assert mean.tobytes() == mean_ref.tobytes() and sd.tobytes() == sd_ref.tobytes()
        if view.cost_w is not None:
            estimate = rng.random(len(view.arms))
            price = cost_model.predict(view.cost_w, x, estimate)
            assert view.learned_cost(x, estimate).tobytes() == price.tobytes()
