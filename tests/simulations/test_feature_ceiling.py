"""The full-information holdout check ranks requests by what the text says about the gain."""

from __future__ import annotations

import numpy as np

from bandit_router.features import Featurizer
from simulations.feature_ceiling import holdout_apgr


def _data(n: int, informative: bool, seed: int = 0):
    rng = np.random.default_rng(seed)
    hard = rng.random(n) < 0.3
    words = np.array(["river", "stone", "cloud", "green", "table", "music"])
    prompts = [" ".join(rng.choice(words, 6)) + (" integral proof" if h else " hello there")
               for h in hard]
    gain = hard if informative else rng.random(n) < 0.3  # where only the strong model is right
    quality = np.column_stack([~gain, np.ones(n, dtype=bool)]).astype(float)  # weak, strong
    return Featurizer().transform_many(prompts), quality


def test_text_that_predicts_the_gain_gives_a_high_apgr_and_noise_gives_about_half():
    X, q = _data(2000, informative=True)
    # Hard requests (30 %) go first: PGR reaches 1 at a strong share of 0.3, so the area
    # is about 1 − 0.3 / 2 = 0.85.
    assert holdout_apgr(X, q, seed=0) > 0.8
    X, q = _data(2000, informative=False)
    assert abs(holdout_apgr(X, q, seed=0) - 0.5) < 0.06


def test_the_weak_model_is_the_one_with_the_lower_mean_whatever_the_column_order():
    X, q = _data(1000, informative=True)
    assert holdout_apgr(X, q[:, ::-1], seed=1) == holdout_apgr(X, q, seed=1)
