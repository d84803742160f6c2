"""Prior shapes (per-block precision, pooled prior mean) and warm start in the learning step."""

from __future__ import annotations

import numpy as np
import pytest

from bandit_router.policy import Posterior, PolicySpec, Prior, SufficientStats, warm_start


def _x(d: int = 20, words: float = 1.0) -> np.ndarray:
    x = np.zeros(d)
    x[0] = 1.0
    x[9:] = words / np.sqrt(d - 9)
    return x


def test_tight_tail_prior_shrinks_the_spread_of_word_weights_but_not_of_the_bias():
    loose = Posterior.from_prior(["a"], 20, Prior()).view(("a",))
    tight = Posterior.from_prior(["a"], 20, Prior(tail_precision=1000.0)).view(("a",))
    _, sd_loose = loose.predict(_x())
    _, sd_tight = tight.predict(_x())
    assert sd_tight[0] < 0.8 * sd_loose[0]
    bias_only = _x(words=0.0)
    np.testing.assert_allclose(tight.predict(bias_only)[1], loose.predict(bias_only)[1],
                               rtol=1e-5)


def test_pooled_prior_mean_puts_an_untried_model_at_what_the_others_earn():
    rng = np.random.default_rng(0)
    stats = SufficientStats.empty(["a", "b", "new"], 20)
    X = np.stack([_x() for _ in range(400)]) + rng.normal(0, 0.01, (400, 20))
    stats.update(np.repeat([0, 1], 200), X, np.full(400, 0.3))
    optimistic = Posterior.fit(stats, Prior()).view(("new",)).predict(_x())[0][0]
    pooled = Posterior.fit(stats, Prior(pool=1.0)).view(("new",)).predict(_x())[0][0]
    assert optimistic == pytest.approx(1.0, abs=0.05)
    assert pooled == pytest.approx(0.3, abs=0.05)


def test_warm_start_counts_each_evaluation_with_its_weight_and_skips_missing_scores():
    X = np.stack([_x() for _ in range(10)])
    scores = np.column_stack([np.ones(10), np.zeros(10)])
    scores[:4, 1] = np.nan
    spec = PolicySpec()
    learned = warm_start(spec, SufficientStats.empty([], 20), ["a", "b"], X, scores, now=0.0,
                         weight=0.25)
    st = learned.stats
    np.testing.assert_allclose(st.n[[st.arms.index("a"), st.arms.index("b")]], [2.5, 1.5])
    mean, _ = learned.posterior.view(("a", "b")).predict(_x())
    assert mean[0] > mean[1]
    with pytest.raises(ValueError):
        warm_start(spec, SufficientStats.empty([], 20), ["a"], X, scores, now=0.0)
    with pytest.raises(ValueError):
        warm_start(spec, SufficientStats.empty([], 20), ["a", "b"], X, scores, now=0.0,
                   weight=0.0)
