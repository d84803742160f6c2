"""What each model's call really costs, learned from what its past calls were charged.

A decision knows only an *estimate* of each call's price (catalog price × prompt tokens + a
typical answer length, or a model's mean price); the call is *charged* its real price, which
depends on how long the answer was. A multiple-choice letter from a frontier model costs a
seventh of what a typical answer is quoted at, and a legal memo twice as much. Per model we
learn, by ridge regression on the request features, the relative error of the estimate::

    y = clip(charged / estimate − 1, −1, RATIO_MAX − 1)
    predicted cost = estimate · max(FLOOR, 1 + xᵀw_k)

The relative error (not the price itself) keeps one regression valid across prompt lengths
and prices: the estimate already carries the prompt's tokens and the catalog price, the
regression learns what the answer length adds. It is linear in the ratio, not its logarithm,
because the utility needs the *expected* price; a log-ratio fit predicts the geometric mean,
below it. The clip bounds what one mis-reported charge can teach (a price 20× its estimate
counts as 20×); the floor keeps every learned price positive.

The regression shares the rows, weights and design matrix ``A_k`` of the reward regression
(:class:`~bandit_router.policy.stats.SufficientStats`), so only ``b_cost_k = Σ w x y`` is
new: ``w_k = (A_k + PRIOR_PRECISION · I)⁻¹ b_cost_k``. Its prior mean is 0: a model never
observed, or observed only where the estimate was right, keeps the estimate. The prior
counts as one observation per weight, whatever the reward fit's prior: the reward's prior
precisions are in units of the reward's noise (and learned for it by evidence), not of a
price ratio's. Measured on ``families`` (simulations/README.md, "Learning what calls
cost"), sharing the reward fit's precisions instead shrank the cost weights of the word
block so far that the learned prices lagged: 2 of 18 runs above the hull against 5.
"""

from __future__ import annotations

import numpy as np

RATIO_MAX = 20.0  # a charge counts as at most this many times its estimate
FLOOR = 0.05  # a learned price is at least this share of its estimate
PRIOR_PRECISION = 1.0  # ridge precision of every cost weight: one observation's worth


def target(estimate: np.ndarray, charged: np.ndarray) -> np.ndarray:
    """Each row's target ``charged / estimate − 1``, clipped; 0 (the estimate was right)
    where either is unknown (NaN) or the estimate is not positive (a free model: its price
    stays 0 whatever is learned)."""
    estimate = np.asarray(estimate, dtype=np.float64)
    charged = np.asarray(charged, dtype=np.float64)
    ok = np.isfinite(estimate) & np.isfinite(charged) & (estimate > 0)
    ratio = np.divide(charged, estimate, out=np.ones_like(estimate), where=ok)
    return np.where(ok, np.clip(ratio, 0.0, RATIO_MAX) - 1.0, 0.0)


def weights(A: np.ndarray, b_cost: np.ndarray) -> np.ndarray:
    """(K, d) ridge weights ``(A_k + PRIOR_PRECISION · I)⁻¹ b_cost_k``; zero, without a
    solve, for every arm that has learned nothing of its prices."""
    w = np.zeros_like(b_cost, dtype=np.float64)
    diag = np.arange(b_cost.shape[1])
    for k in np.flatnonzero(np.any(b_cost != 0, axis=1)):
        P = A[k].copy()
        P[diag, diag] += PRIOR_PRECISION
        w[k] = np.linalg.solve(P, b_cost[k])
    return w


def predict(w: np.ndarray, x: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """(K,) learned price of each arm's call at ``x`` given its ``estimate``."""
    m = w @ x
    m += 1.0
    # minimum/maximum in place: np.clip costs ~4 µs more per decision at K = 10.
    return estimate * np.minimum(np.maximum(m, FLOOR, out=m), RATIO_MAX, out=m)
