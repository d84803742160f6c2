"""The ``bench11`` world: seeded, RouterBench-shaped, and built so that routing pays."""

import numpy as np

from simulations import bench11
from simulations.data import Scenario, synthetic


def test_the_same_seed_gives_the_same_world_and_another_seed_another():
    a = synthetic("bench11", 5, Scenario(steps=500))
    b = synthetic("bench11", 5, Scenario(steps=500))
    assert np.array_equal(a.reward, b.reward) and np.array_equal(a.X, b.X)
    assert np.array_equal(a.charged, b.charged) and np.array_equal(a.cost, b.cost)
    c = synthetic("bench11", 6, Scenario(steps=500))
    assert not np.array_equal(a.reward, c.reward)
    assert a.models == bench11.MODELS and a.k == 11 and a.n == 500
    assert set(np.unique(a.reward)) <= {0.0, 1.0}


def test_the_default_stream_is_the_held_out_benchmarks_length():
    assert synthetic("bench11", 0).n == 3_150


def test_prices_span_more_than_a_hundredfold_and_depend_on_the_answer():
    w = bench11.generate(0, 2_000)
    mean = w.charged.mean(axis=0)
    assert mean.max() > 100 * mean.min()
    gpt4 = bench11.MODELS.index("gpt-4")
    per_family = [w.charged[w.family == f, gpt4].mean() for f in range(len(bench11.FAMILIES))]
    code, mc = bench11.FAMILIES.index("python"), bench11.FAMILIES.index("science-mc")
    assert per_family[code] > 3 * per_family[mc]  # code answers are long, letters short
    # the price known when deciding is not the price charged
    assert np.corrcoef(w.quoted[:, gpt4], w.charged[:, gpt4])[0, 1] < 0.9


def test_each_family_has_its_own_best_open_model_and_gpt4_is_best_overall():
    for seed in range(4):
        w = bench11.generate(seed, 4_000)
        cheap = [bench11.MODELS.index(m) for m in bench11.OPEN_MODELS]
        best = [cheap[int(np.argmax(w.expected[w.family == f][:, cheap].mean(axis=0)))]
                for f in range(len(bench11.FAMILIES))]
        assert len(set(best)) == len(bench11.FAMILIES), (seed, best)
        assert int(np.argmax(w.expected.mean(axis=0))) == bench11.MODELS.index("gpt-4")
        # the per-prompt difficulty is shared: outcomes of different models are correlated
        r = np.corrcoef(w.reward.T)[np.triu_indices(11, 1)]
        assert r.mean() > 0.05


def test_prompts_vary_within_a_family_and_look_like_their_benchmark():
    w = bench11.generate(1, 1_500)
    assert len(set(w.texts)) > 0.85 * len(w.texts)
    for f, marker in zip(range(4), ("\nA. ", "Answer:", "assert ", "?")):
        texts = [t for t, g in zip(w.texts, w.family) if g == f]
        assert all(marker in t for t in texts), bench11.FAMILIES[f]
        assert len(set(texts)) > 0.5 * len(texts)


def test_tokens_are_counted_like_a_tokenizer_roughly():
    assert bench11.count_tokens("What is 12 + 7?") == 7  # What, is, 1, 2, +, 7, ?
    assert bench11.count_tokens("photosynthesis") == 4
