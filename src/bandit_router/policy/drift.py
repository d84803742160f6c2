"""Detect that a model's reward has changed, and forget what it did before the change.

Discounting (``half_life``) forgets slowly and for every model alike: a model that suddenly
loses a third of its quality keeps its old reputation for about a half-life. This detector
watches each model's *standardised residuals* ``z = (r − xᵀm) / σ`` — the observed reward
against what the current posterior predicted for that very request — with a two-sided
CUSUM (Page, "Continuous inspection schemes", Biometrika 1954):

    g⁺ ← max(0, g⁺ + z − κ)      g⁻ ← max(0, g⁻ − z − κ)

and raises an alarm for the model when either sum passes ``h``. While a model behaves as
predicted the residuals average zero, each step pulls the sums down by ``κ`` and they stay
near zero; a shift of ``δ`` standard deviations (δ > κ) makes one sum grow by about
``δ − κ`` per observation, so it is detected after about ``h / (δ − κ)`` observations of
that model. On an alarm the model's discounted statistics are scaled down to the weight of
``keep`` observations: its posterior keeps the shape of what it knew but becomes uncertain
enough for the new data to move it at once, and it is explored again.

The state (two sums per model) travels with the :class:`SufficientStats`, so it survives
refits, restarts and replicas.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bandit_router.policy.posterior import Posterior
from bandit_router.policy.stats import SufficientStats


@dataclass(frozen=True)
class DriftDetector:
    """Two-sided CUSUM on each model's standardised residuals (see the module docstring)."""

    slack: float = 0.5  # κ: shifts smaller than this many residual sds are left to discounting
    threshold: float = 16.0  # h: evidence needed for an alarm, in residual sds
    keep: float = 100.0  # effective observations a model keeps after an alarm

    def __post_init__(self) -> None:
        if self.slack <= 0 or self.threshold <= 0 or self.keep < 0:
            raise ValueError("drift slack and threshold must be positive and keep ≥ 0")

    def scan(
        self,
        stats: SufficientStats,
        fitted: Posterior | None,
        arm_idx: np.ndarray,
        X: np.ndarray,
        r: np.ndarray,
    ) -> list[str]:
        """Scan new rows (in arrival order) for changes and forget where one is found; call
        it before adding the same rows with :meth:`SufficientStats.update`.

        ``fitted`` is the posterior the rows' decisions were made with (its predictions are
        what the residuals are measured against). Models it does not know, and models whose
        statistics weigh no more than ``keep`` observations, are not scanned.
        Returns the models whose alarm went off, in ``stats.arms`` order.
        """
        arm_idx = np.asarray(arm_idx, dtype=np.intp)
        X = np.asarray(X, dtype=np.float64)
        r = np.asarray(r, dtype=np.float64)
        if fitted is None or X.shape[1] != fitted.dim:
            return []
        known = {a: j for j, a in enumerate(fitted.arms)}
        alarms: list[str] = []
        for k in np.unique(arm_idx):
            arm = stats.arms[k]
            j = known.get(arm)
            if j is None or stats.n[k] <= self.keep:
                # Nothing worth forgetting yet, and a posterior fitted on so few rows (or on
                # none: the prior) is expected to be wrong.
                continue
            rows = np.flatnonzero(arm_idx == k)
            z = (r[rows] - X[rows] @ fitted.theta[j]) / fitted.noise_sd[j]
            stats.cusum[k], fired = _cusum(stats.cusum[k], z, self.slack, self.threshold)
            if fired:
                stats.forget(k, self.keep)
                alarms.append(arm)
        return alarms


def _cusum(g: np.ndarray, z: np.ndarray, slack: float, threshold: float) -> tuple[np.ndarray, bool]:
    """Run the two sums ``g = (g⁺, g⁻)`` over ``z``; on an alarm both restart from zero."""
    up, down = float(g[0]), float(g[1])
    for v in z.tolist():
        up = max(0.0, up + v - slack)
        down = max(0.0, down - v - slack)
        if up > threshold or down > threshold:
            return np.zeros(2), True
    return np.array([up, down]), False
