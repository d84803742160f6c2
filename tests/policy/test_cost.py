"""Learning each model's per-call price from what its calls were charged (policy/cost.py)."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest

from bandit_router.policy import Observations, PolicySpec, Posterior, SufficientStats, learn
from bandit_router.policy import cost
from bandit_router.policy.posterior import Prior

ARMS = ("dear", "cheap")
KIND_A, KIND_B = np.array([1.0, 1.0, 0.0]), np.array([1.0, 0.0, 1.0])  # bias + kind flag
ESTIMATE = np.array([0.01, 0.001])  # decision-time prices of (dear, cheap)


def _world(n: int = 400, learn_cost: bool = True):
    """``dear`` (quality 0.9) is quoted at 0.01 but charged a tenth of that on kind A (a short
    answer) and twice it on kind B; ``cheap`` (0.7) is charged what it is quoted. Every
    model's outcome is observed (full information), so only the prices differ between runs."""
    rng = np.random.default_rng(0)
    kind_a = rng.random(n) < 0.5
    X = np.where(kind_a[:, None], KIND_A, KIND_B)
    rewards = np.stack([np.full(n, 0.9), np.full(n, 0.7)], axis=1) + rng.normal(0, 0.05, (n, 2))
    estimate = np.broadcast_to(ESTIMATE, (n, 2)).copy()
    charged = estimate.copy()
    charged[:, 0] *= np.where(kind_a, 0.1, 2.0) * rng.uniform(0.9, 1.1, n)
    spec = PolicySpec(kind="linucb", alpha=0.0, propensity_floor=0.0, drift=None,
                      learn_cost=learn_cost, prior=Prior(evidence="none"))
    obs = Observations.full_information(ARMS, X, rewards, estimate=estimate, charged=charged)
    return spec, learn(spec, SufficientStats.empty(list(ARMS), 3), [obs], now=0.0).posterior


def test_a_model_cheap_on_one_kind_of_request_is_priced_lower_and_chosen_there():
    spec, post = _world()
    view = post.view(ARMS)
    on_a, on_b = view.learned_cost(KIND_A, ESTIMATE), view.learned_cost(KIND_B, ESTIMATE)
    # A tenth of the quote on A, twice it on B (up to the ridge's shrinkage and the noise).
    assert on_a[0] == pytest.approx(0.001, rel=0.15) and on_b[0] == pytest.approx(0.02, rel=0.1)
    np.testing.assert_allclose([on_a[1], on_b[1]], 0.001, rtol=1e-6)  # charged as quoted
    policy, rng = spec.policy(2), np.random.default_rng(1)
    # λ = 30: at the quoted prices cheap wins everywhere (0.9 − 0.3 < 0.7 − 0.03); at the
    # learned ones dear wins on kind A only.
    assert policy.choose(view, KIND_A, rng, cost=ESTIMATE, cost_weight=30).index == 0
    assert policy.choose(view, KIND_B, rng, cost=ESTIMATE, cost_weight=30).index == 1
    _, blind = _world(learn_cost=False)
    assert blind.view(ARMS).cost_w is None
    for x in (KIND_A, KIND_B):
        assert policy.choose(blind.view(ARMS), x, rng, cost=ESTIMATE, cost_weight=30).index == 1


def test_the_choice_reports_the_learned_prices_and_propensities_use_them():
    spec, post = _world()
    view = post.view(ARMS)
    policy = replace(spec, kind="thompson", propensity_floor=0.01).policy(2)
    ch = policy.choose(view, KIND_A, np.random.default_rng(2), cost=ESTIMATE, cost_weight=30)
    np.testing.assert_allclose(ch.cost, view.learned_cost(KIND_A, ESTIMATE))
    p = policy.probabilities(view, KIND_A, cost=ESTIMATE, cost_weight=30)
    assert ch.propensity == pytest.approx(p[ch.index])
    assert p[0] > 0.9  # dear, priced at what it is charged on kind A


def test_targets_are_clipped_and_unknown_prices_teach_nothing():
    est = np.array([1.0, 1.0, 1.0, 0.0, np.nan, 2.0])
    paid = np.array([0.5, 1000.0, np.nan, 5.0, 1.0, 0.0])
    np.testing.assert_allclose(cost.target(est, paid),
                               [-0.5, cost.RATIO_MAX - 1, 0.0, 0.0, 0.0, -1.0])
    w = np.array([[-50.0, 0.0], [50.0, 0.0], [0.0, 0.0]])  # absurd weights are clamped
    np.testing.assert_allclose(cost.predict(w, np.array([1.0, 0.0]), np.full(3, 2.0)),
                               [2.0 * cost.FLOOR, 2.0 * cost.RATIO_MAX, 2.0])


def test_no_prices_learn_exactly_what_was_learned_before():
    rng = np.random.default_rng(3)
    X, r = rng.normal(size=(50, 4)), rng.random(50)
    arm = rng.integers(0, 2, 50)
    spec = PolicySpec()
    start = SufficientStats.empty(list(ARMS), 4)
    plain = learn(spec, start, [Observations(ARMS, arm, X, r)], 1.0).posterior
    same = learn(spec, start, [Observations(ARMS, arm, X, r, estimate=np.ones(50),
                                            charged=np.ones(50))], 1.0).posterior
    np.testing.assert_array_equal(plain.theta, same.theta)
    assert plain.view(ARMS).cost_w is None and same.view(ARMS).cost_w is None
    with pytest.raises(ValueError, match="both prices"):
        Observations(ARMS, arm, X, r, estimate=np.ones(50))


def test_cost_statistics_decay_and_are_forgotten_with_the_rest():
    _, post = _world()
    stats = post.stats.copy()
    before = stats.b_cost.copy()
    stats.decay_to(stats.t + 10.0, half_life=10.0)
    np.testing.assert_allclose(stats.b_cost, before / 2)
    stats.forget(0, keep=1.0)
    np.testing.assert_allclose(stats.b_cost[0] / before[0], stats.n[0] / post.stats.n[0] * 1,
                               rtol=1e-9)


def _without(blob: bytes, *names: str, inner: str | None = None) -> bytes:
    """``blob`` (an npz) rewritten without the arrays ``names`` (in the nested ``inner``
    npz if given): a payload as an older version stored it."""
    with np.load(io.BytesIO(blob), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    if inner is not None:
        arrays[inner] = np.frombuffer(_without(arrays[inner].tobytes(), *names), np.uint8)
    else:
        arrays = {k: v for k, v in arrays.items() if k not in names}
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def test_a_posterior_stored_before_cost_learning_loads_with_none_learned():
    _, post = _world()
    old = Posterior.from_bytes(_without(_without(post.to_bytes(), "cost_w"), "b_cost",
                                        inner="stats"))
    np.testing.assert_array_equal(old.stats.b_cost, 0.0)
    np.testing.assert_array_equal(old.theta, post.theta)
    assert old.view(ARMS).cost_w is None  # every price is its estimate
    # A payload with the statistics but not the fitted weights recomputes them.
    again = Posterior.from_bytes(_without(post.to_bytes(), "cost_w"))
    np.testing.assert_allclose(again.cost_w, post.cost_w, rtol=1e-12, atol=1e-15)


def _replace_array(blob: bytes, name: str, value: np.ndarray, inner: str | None = None) -> bytes:
    with np.load(io.BytesIO(blob), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    if inner is not None:
        arrays[inner] = np.frombuffer(_replace_array(arrays[inner].tobytes(), name, value),
                                      np.uint8)
    else:
        arrays[name] = value
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


@pytest.mark.parametrize("name,inner,bad", [
    ("cost_w", None, np.full((2, 3), np.nan)),
    ("cost_w", None, np.zeros((3, 3))),
    ("b_cost", "stats", np.full((2, 3), np.inf)),
    ("b_cost", "stats", np.zeros((2, 4))),
    ("theta", None, np.zeros((2, 2))),
])
def test_corrupt_stored_state_is_refused(name, inner, bad):
    _, post = _world()
    with pytest.raises(ValueError, match=name):
        Posterior.from_bytes(_replace_array(post.to_bytes(), name, bad, inner))
