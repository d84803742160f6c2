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
new: ``w_k = (A_k + diag λ_k)⁻¹ b_cost_k`` with the reward fit's prior precisions (the
same factor, no second decomposition). Its prior mean is 0: a model never observed, or
observed only where the estimate was right, keeps the estimate.
"""

from __future__ import annotations

import numpy as np

RATIO_MAX = 20.0  # a charge counts as at most this many times its estimate
FLOOR = 0.05  # a learned price is at least this share of its estimate


def target(estimate: np.ndarray, charged: np.ndarray) -> np.ndarray:
    """Each row's target ``charged / estimate − 1``, clipped; 0 (the estimate was right)
    where either is unknown (NaN) or the estimate is not positive (a free model: its price
    stays 0 whatever is learned)."""
    estimate = np.asarray(estimate, dtype=np.float64)
    charged = np.asarray(charged, dtype=np.float64)
    ok = np.isfinite(estimate) & np.isfinite(charged) & (estimate > 0)
    ratio = np.divide(charged, estimate, out=np.ones_like(estimate), where=ok)
    return np.where(ok, np.clip(ratio, 0.0, RATIO_MAX) - 1.0, 0.0)


def weights(rinv: np.ndarray, b_cost: np.ndarray) -> np.ndarray:
    """(K, d) ridge weights ``P_k⁻¹ b_cost_k`` from the reward fit's factor (``P⁻¹ = RᵀR``
    with ``R = rinv``)."""
    return np.einsum("kji,kj->ki", rinv, np.einsum("kij,kj->ki", rinv, b_cost))


def predict(w: np.ndarray, x: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """(K,) learned price of each arm's call at ``x`` given its ``estimate``."""
    return estimate * np.clip(1.0 + w @ x, FLOOR, RATIO_MAX)
