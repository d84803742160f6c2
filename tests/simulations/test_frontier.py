"""Many-model metrics against the single-model hull, on hand-made points with known answers."""

import numpy as np
import pytest

from simulations.data import Dataset
from simulations.frontier import area, curve_at, envelope, frontier_summary
from simulations.runner import Log


def test_the_hull_drops_dominated_and_below_chord_models():
    # (4, .75) is dearer and worse than (3, .8); (2, .6) lies under the chord (1,.5)-(3,.8)
    v = envelope([1, 2, 3, 4, 5], [0.5, 0.6, 0.8, 0.75, 0.85])
    assert v.tolist() == [[1, 0.5], [3, 0.8], [5, 0.85]]
    assert curve_at(v, 2.0) == pytest.approx(0.65)
    assert curve_at(v, 9.0) == pytest.approx(0.85)  # flat past the dearest vertex
    assert curve_at(v, 0.5) == pytest.approx(0.5)  # flat to the left: conservative
    assert area(v, 1.0, 5.0) == pytest.approx((0.65 * 2 + 0.825 * 2) / 4)


def _world(models=("cheap", "mid", "dear"), cost=(1.0, 4.0, 10.0), quality=(0.5, 0.7, 0.8),
           n=100) -> Dataset:
    reward = np.tile(np.array(quality), (n, 1))
    return Dataset("hand", tuple(models), np.ones((n, 1)), reward, reward,
                   np.tile(np.array(cost), (n, 1)))


def _run(policy, lam, cost, quality, n=100, seed=0, models=("cheap", "mid", "dear")) -> Log:
    return Log(policy, seed, lam, models, np.arange(n), np.zeros(n, dtype=np.intp),
               np.ones(n), np.full(n, quality), np.full(n, cost))


def _mix(data: Dataset, a: int, b: int, policy: str) -> Log:
    n = data.n
    arm = np.r_[np.full(n // 2, a, dtype=np.intp), np.full(n - n // 2, b, dtype=np.intp)]
    rows = np.arange(n)
    return Log(policy, 0, 0.0, data.models, rows, arm, np.ones(n), data.reward[rows, arm],
               data.cost[rows, arm])


def test_a_mix_of_two_neighbouring_models_lies_on_the_hull_and_is_not_above_it():
    data = _world()  # hull (1,.5)-(4,.7)-(10,.8)
    out = frontier_summary([_mix(data, 0, 1, "cheap+mid"), _mix(data, 0, 2, "cheap+dear"),
                            _run("mid-only", 0.0, 4.0, 0.7), _run("better", 1.0, 4.0, 0.75)],
                           {0: data})
    on = out["policies"]["cheap+mid"]
    assert on["runs"][0]["cost_usd"] == pytest.approx(2.5)
    assert on["runs"][0]["margin"] == pytest.approx(0.0, abs=1e-12)
    assert on["above"] == {"runs": 0, "of": 1, "share": 0.0}
    assert out["policies"]["mid-only"]["runs"][0]["margin"] == pytest.approx(0.0, abs=1e-12)
    # cheap and dear skip the mid model: cost 5.5, quality .65, the hull gives .725 there
    assert out["policies"]["cheap+dear"]["runs"][0]["margin"] == pytest.approx(0.65 - 0.725)
    better = out["policies"]["better"]
    assert better["runs"][0]["margin"] == pytest.approx(0.05)
    assert better["above"]["runs"] == 1 and better["above_positive_cost_weight"]["runs"] == 1


def test_quality_at_30_and_50_percent_of_the_strongest_cost_on_a_hand_made_curve():
    data = _world()
    runs = [_run("p", 0.0, 6.0, 0.79), _run("p", 5.0, 2.0, 0.65)]
    out = frontier_summary(runs, {0: data})
    p, hull = out["policies"]["p"], out["hull"]
    # the policy's curve: (1,.5) [always-cheapest, λ → ∞], (2,.65), (6,.79), flat after
    assert p["q30"]["mean"] == pytest.approx((0.65 + 0.035) / 0.8)  # at cost 3
    assert p["q50"]["mean"] == pytest.approx((0.65 + 3 * 0.035) / 0.8)  # at cost 5
    assert p["aiq"]["mean"] == pytest.approx((0.575 + 0.72 * 4 + 0.79 * 4) / 9 / 0.8)
    # the hull: (1,.5)-(4,.7)-(10,.8)
    assert hull["q30"]["mean"] == pytest.approx((0.5 + 2 * 0.2 / 3) / 0.8)
    assert hull["q50"]["mean"] == pytest.approx((0.7 + 0.1 / 6) / 0.8)
    assert hull["per_seed"][0]["strongest"] == "dear"
    assert hull["per_seed"][0]["cheapest"] == "cheap"


def test_quality_at_a_share_of_cost_below_the_cheapest_model_is_not_defined():
    data = _world(cost=(5.0, 8.0, 10.0))  # 30 % of the strongest cost (3) < cheapest (5)
    out = frontier_summary([_run("p", 0.0, 10.0, 0.8)], {0: data})
    assert out["policies"]["p"]["q30"]["mean"] is None
    assert out["policies"]["p"]["q50"]["mean"] == pytest.approx(0.5 / 0.8)
