"""simulations/regret_split.py: a run's regret against each family's best model, by cause."""

from __future__ import annotations

import numpy as np

from simulations import regret_split
from simulations.cli import build_policies
from simulations.data import Dataset
from simulations.runner import run


def _world():
    # two families, three models: "a" cheap and good on family 0, "b" cheap and good on
    # family 1, "c" dear and best on both; "a" is dominated on family 1 by "b" and vice versa
    models = ("a", "b", "c")
    fam = np.array([0, 0, 1, 1, 0, 1])
    q = np.array([[0.7, 0.4, 0.9], [0.4, 0.7, 0.9]])
    expected = q[fam]
    charged = np.tile([0.001, 0.001, 0.01], (6, 1))
    data = Dataset(name="t", models=models, X=np.ones((6, 1)), reward=expected.copy(),
                   expected=expected, cost=charged.copy(), charged=charged)
    return regret_split.World(data, fam, ("f0", "f1"))


def test_each_decision_lands_in_one_bin_and_the_bins_add_up():
    w = _world()
    arm = np.array([0, 1, 1, 2, 2, 0])
    explored = np.array([False, False, False, False, True, False])
    mean = np.full((6, 3), 0.5)
    out = regret_split.split(w, 40.0, arm, explored, mean, windows=(0, 3))
    # at λ = 40 the dear "c" costs 0.4: each family's best is its cheap specialist
    assert out["best"] == ["a", "b"]
    t = out["total"]
    assert t["pulls"] == {"floor": 1 / 6, "dominated_dear": 0.0, "dominated_cheap": 2 / 6,
                          "frontier_dear": 1 / 6, "frontier_cheap": 0.0, "best": 2 / 6}
    # regrets: b on f0 0.3 (twice, dominated and cheap), c on f1 0.2 − 0.4 … in utility:
    # best 0.7 − 0.04 = 0.66; c: 0.9 − 0.4 = 0.5 → 0.16; a on f1: 0.66 − 0.36 = 0.3
    np.testing.assert_allclose(t["dominated_cheap"], (0.3 + 0.3) / 6)
    np.testing.assert_allclose(t["frontier_dear"], 0.16 / 6)
    np.testing.assert_allclose(t["floor"], 0.16 / 6)
    np.testing.assert_allclose(sum(t[b] for b in regret_split.BINS), t["regret"])
    assert [(x["from"], x["to"]) for x in out["windows"]] == [(0, 3), (3, 6)]


def test_the_instrumented_replay_follows_the_simulator():
    w = regret_split.world("bench11", 0, 150)
    (cfg,) = build_policies("thompson", 50, regret_split._spec())
    arm, explored, mean = regret_split.replay(w.data, cfg, 0, 20.0)
    np.testing.assert_array_equal(arm, run(w.data, cfg, 0, 20.0).arm)
    assert explored.any() and mean.shape == (150, w.data.k)
