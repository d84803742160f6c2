"""The full-information holdout check ranks requests by what the text says about the gain."""

from __future__ import annotations

import numpy as np

from bandit_router.features import Featurizer
from simulations.data import read_responses
from simulations.feature_ceiling import holdout_apgr, holdout_knn_apgr, main


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


def test_nearest_neighbours_rank_by_the_gain_of_similar_requests():
    X, q = _data(2000, informative=True)
    assert holdout_knn_apgr(X, q, seed=0, k=25) > 0.8
    X, q = _data(2000, informative=False)
    assert abs(holdout_knn_apgr(X, q, seed=0, k=25) - 0.5) < 0.06


def test_a_precomputed_feature_file_is_scored_beside_the_hashed_shapes(tmp_path, capsys):
    from tests.simulations.conftest import write_responses

    data = write_responses(tmp_path / "r.csv", 400, 0)
    table = read_responses(data)
    np.save(tmp_path / "f.npy", np.array([[p.startswith("prove")] for p in table.prompts],
                                         dtype=float))
    assert main(["--data", str(data), "--buckets", "none", "--features", str(tmp_path / "f.npy"),
                 "--ridge", "1", "--knn", "10", "--seeds", "2"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "APGR" in ln]
    assert len(lines) == 2 and all("f.npy  d =     2" in ln for ln in lines)
    assert "ridge" in lines[0] and "knn" in lines[1]
