"""RouteLLM's metrics on logs small enough to compute by hand."""

import numpy as np
import pytest

from simulations import metrics


def test_pgr_is_zero_at_weak_and_one_at_strong():
    assert metrics.pgr(0.6, 0.6, 0.8) == pytest.approx(0.0)
    assert metrics.pgr(0.8, 0.6, 0.8) == pytest.approx(1.0)
    assert metrics.pgr(0.75, 0.6, 0.8) == pytest.approx(0.75)


def test_apgr_is_the_trapezoid_area_with_both_end_points():
    # points (0,0), (0.5,0.75), (1,1): 0.5·0.75/2 + 0.5·(0.75+1)/2 = 0.625
    assert metrics.apgr([0.5], [0.75], 0.6, 0.8) == pytest.approx(0.625)


def test_apgr_sorts_points_by_share_and_does_not_smooth():
    # unsorted input; a dip at share 0.5 stays in the curve (no envelope)
    share, quality = [0.75, 0.25, 0.5], [0.76, 0.7, 0.66]
    # PGR: 0.25→0.5, 0.5→0.3, 0.75→0.8
    x = [0, 0.25, 0.5, 0.75, 1]
    y = [0, 0.5, 0.3, 0.8, 1]
    expected = sum((x[i + 1] - x[i]) * (y[i + 1] + y[i]) / 2 for i in range(4))
    assert metrics.apgr(share, quality, 0.6, 0.8) == pytest.approx(expected)


def test_random_routing_scores_half():
    shares = np.linspace(0.1, 0.9, 9)
    assert metrics.apgr(shares, 0.6 + 0.2 * shares, 0.6, 0.8) == pytest.approx(0.5)


def test_cpt_interpolates_the_first_crossing():
    assert metrics.cpt([0.5], [0.75], 0.6, 0.8, 0.5) == pytest.approx(1 / 3)
    assert metrics.cpt([0.5], [0.75], 0.6, 0.8, 0.8) == pytest.approx(0.6)
    # a curve above 1 early reaches 80 % before the strong-only end point
    assert metrics.cpt([0.2, 0.6], [0.82, 0.79], 0.6, 0.8, 0.8) == pytest.approx(0.8 * 0.2 / 1.1)


def test_recovery_time_counts_requests_until_the_window_is_within_tolerance():
    oracle = np.ones(20)
    policy = np.ones(20)
    policy[10:14] = 0.0  # the four requests after the change are wrong
    # window 2 starting at 10+k is within 5 % only once both entries are 1: k = 4
    assert metrics.recovery_time(policy, oracle, change=10, window=2) == 4
    assert metrics.recovery_time(np.zeros(20), oracle, change=10, window=2) is None
