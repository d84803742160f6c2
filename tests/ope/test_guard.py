"""The coverage guard itself, on binomial draws where the true coverage is set: it fails a
table of correct intervals at most as often as its family-wise error allows, and fails one
of intervals that cover 85 % almost always, at the run count of the CI check."""

from __future__ import annotations

import numpy as np
import pytest

from bandit_router.ope.guard import coverage_guard, holm, shrink_factor, shrunk, \
    simulated_rejection_rate

CELLS, RUNS, TABLES = 18, 100, 2000
# Three standard errors of a rejection rate of 1 % over TABLES tables.
SLACK = 3 * (0.01 * 0.99 / TABLES) ** 0.5


@pytest.mark.parametrize("correlated", [False, True])
def test_correct_intervals_fail_at_most_as_often_as_the_family_wise_error(correlated):
    rate = simulated_rejection_rate(np.full(CELLS, 0.95), RUNS, np.random.default_rng(1),
                                    TABLES, correlated=correlated)
    assert rate <= 0.01 + SLACK, rate


def test_intervals_that_cover_85_percent_are_failed_almost_always():
    rate = simulated_rejection_rate(np.full(CELLS, 0.85), RUNS, np.random.default_rng(2),
                                    TABLES)
    assert rate >= 0.99, rate


def test_one_cell_far_below_the_level_is_failed_by_its_own_test():
    counts = {f"c{i}": 95 for i in range(CELLS)} | {"bad": 75}
    result = coverage_guard(counts, RUNS)
    assert result.rejected == ("bad",) and not result.mean_rejected and not result.passed


def test_a_uniform_shortfall_too_small_for_any_cell_is_failed_by_the_mean():
    result = coverage_guard({f"c{i}": 88 for i in range(CELLS)}, RUNS)
    assert not result.rejected and result.mean_rejected and not result.passed


def test_cells_within_their_noise_pass():
    # 87 of 100 in one cell: the kind of figure a per-cell "≥ 90 %" bar mistook for a failure.
    result = coverage_guard({f"c{i}": 94 for i in range(CELLS)} | {"low": 87}, RUNS)
    assert result.passed, result.summary()


def test_holm_steps_down_and_stops_at_the_first_hypothesis_it_keeps():
    p = {"a": 0.001, "b": 0.02, "c": 0.03, "d": 0.2}
    assert holm(p, 0.05) == ("a",)           # 0.02 > 0.05 / 3
    assert holm(p | {"b": 0.015}, 0.05) == ("a", "b")  # 0.015 ≤ 0.05 / 3; 0.03 > 0.05 / 2


def test_bad_input_is_refused():
    with pytest.raises(ValueError):
        coverage_guard({"a": 101}, 100)
    with pytest.raises(ValueError):
        coverage_guard({}, 100)


def test_the_negative_control_turns_a_normal_95_percent_interval_into_an_85_percent_one():
    factor = shrink_factor()
    rng = np.random.default_rng(3)
    z = rng.standard_normal(200_000)  # estimate − truth, in standard errors
    low, high = shrunk(z, z - 1.959964, z + 1.959964, factor)
    assert abs(np.mean((low <= 0) & (0 <= high)) - 0.85) < 0.005
