"""The cascade replay: calls and costs add up, a perfect check escalates exactly the wrong
answers, and the learned start learns from failed checks."""

from __future__ import annotations

import numpy as np

from simulations.cascade import _verdicts, compare, learned_start, run_cascade
from simulations.data import Dataset


def tiny() -> Dataset:
    reward = np.array([[1.0, 1.0], [0.0, 1.0], [0.0, 0.0], [1.0, 0.0]])
    cost = np.tile([0.001, 0.01], (4, 1))
    return Dataset("tiny", ("cheap", "dear"), np.ones((4, 1)), reward, reward, cost)


def test_a_perfect_check_escalates_exactly_the_wrong_cheap_answers_and_pays_every_call():
    data = tiny()
    verdict = _verdicts(data, 1.0, 0.5, np.random.default_rng(0))
    reward, cost, calls, tried = run_cascade(data, [0, 1], verdict)
    assert calls.tolist() == [1, 2, 2, 1]
    assert reward.tolist() == [1.0, 1.0, 0.0, 1.0]  # the dear model's answer is kept, even wrong
    assert np.allclose(cost, [0.001, 0.011, 0.011, 0.001])
    assert tried[1] == [(0, False), (1, True)]


def test_a_check_that_is_always_wrong_inverts_the_escalations():
    data = tiny()
    verdict = _verdicts(data, 0.0, 0.5, np.random.default_rng(0))
    _, _, calls, _ = run_cascade(data, [0, 1], verdict)
    assert calls.tolist() == [2, 1, 1, 2]


def test_the_learned_start_moves_to_the_dear_model_when_the_cheap_one_always_fails():
    n = 600
    reward = np.column_stack([np.zeros(n), np.ones(n)])
    data = Dataset("fails", ("cheap", "dear"), np.ones((n, 1)), reward, reward,
                   np.tile([0.0001, 0.001], (n, 1)))
    verdict = _verdicts(data, 1.0, 0.5, np.random.default_rng(0))
    _, _, calls = learned_start(data, [0, 1], verdict, seed=0, cost_weight=0.0)
    assert calls[:100].mean() > calls[-200:].mean()  # fewer wasted cheap calls once learned
    assert calls[-200:].mean() < 1.2
    rows = {r.name: r for r in compare(data, 1.0, cost_weights=(0.0,))}
    assert rows["cascade (cheap → dear), check accuracy 1"].calls == 2.0
