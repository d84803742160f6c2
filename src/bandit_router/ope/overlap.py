"""Overlap diagnostics: can the logged data say anything about the candidate policy?

Importance weighting only works where the logging policy tried what the candidate would
do. When it rarely did, a handful of decisions with huge weights carry the estimate, the
bootstrap cannot see the values those decisions might have had, and its interval is too
narrow. The numbers below detect that; ``docs/ope.md`` explains the thresholds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class OverlapThresholds:
    """Below these the estimates are reported as not trustworthy."""

    min_ess: float = 50.0  # effective decisions: fewer and the bootstrap is not yet normal
    min_ess_ratio: float = 0.01  # ESS/n: the candidate agrees with ~1 in 100 logged decisions
    max_weight_share: float = 0.05  # one decision carrying more of Σw than this dominates
    tiny_propensity: float = 0.02  # a logged propensity below this counts as "tiny"
    max_tiny_mass: float = 0.25  # candidate mass allowed on tiny-propensity actions


@dataclass(frozen=True)
class Overlap:
    n: int
    ess: float  # (Σw)² / Σw² (Kong 1992; Owen, *Monte Carlo theory*, 2013, §9.3)
    ess_ratio: float
    max_weight: float
    max_weight_share: float  # max w / Σw
    mean_weight: float  # E[w] = 1 when the candidate's support is covered
    mean_weight_se: float
    zero_weight_share: float  # logged decisions the candidate would never have made
    tiny_mass: float  # IPS estimate of the candidate's mass on tiny-propensity actions
    warnings: tuple[str, ...]

    @property
    def trustworthy(self) -> bool:
        return not self.warnings

    def to_dict(self) -> dict:
        out = asdict(self)
        out["warnings"] = list(self.warnings)
        out["trustworthy"] = self.trustworthy
        return out


def overlap(weights: np.ndarray, propensities: np.ndarray,
            limits: OverlapThresholds = OverlapThresholds()) -> Overlap:
    """Diagnostics of the importance weights ``w_i = π_e(a_i|x_i) / p_i``."""
    w = np.asarray(weights, dtype=float)
    n = len(w)
    total, total_sq = float(w.sum()), float(w @ w)
    ess = total * total / total_sq if total_sq > 0 else 0.0
    max_w = float(w.max())
    share = max_w / total if total > 0 else 1.0
    mean_w = total / n
    se = float(w.std(ddof=1) / np.sqrt(n)) if n > 1 else float("inf")
    tiny = float(np.mean(w * (propensities < limits.tiny_propensity)))
    warnings = []
    if ess < limits.min_ess:
        warnings.append(f"effective sample size {ess:.1f} is below {limits.min_ess:g}: "
                        "too few logged decisions resemble the candidate's choices")
    if ess < limits.min_ess_ratio * n:
        warnings.append(f"effective sample size is {ess / n:.2%} of the {n} decisions "
                        f"(below {limits.min_ess_ratio:.0%}): low overlap with the logging policy")
    if share > limits.max_weight_share:
        warnings.append(f"one decision carries {share:.1%} of the total importance weight "
                        f"(max weight {max_w:.3g}): the estimate hinges on a few decisions")
    if abs(mean_w - 1) > max(0.1, 3 * se):
        warnings.append(f"the mean importance weight is {mean_w:.3f}, not 1 (±{3 * se:.3f}): "
                        "the candidate chooses arms the logging policy never tried, or the "
                        "logged propensities are wrong")
    if tiny > limits.max_tiny_mass:
        warnings.append(f"about {tiny:.0%} of the candidate's choices are arms the logging "
                        f"policy chose with probability below {limits.tiny_propensity:g}")
    return Overlap(n=n, ess=ess, ess_ratio=ess / n, max_weight=max_w, max_weight_share=share,
                   mean_weight=mean_w, mean_weight_se=se,
                   zero_weight_share=float(np.mean(w == 0)), tiny_mass=tiny,
                   warnings=tuple(warnings))
