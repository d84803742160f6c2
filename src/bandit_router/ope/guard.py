"""A statistical test of a coverage table: do the intervals cover less than their level?

Design, fixed before it was run on new coverage results (docs/ope.md, "The coverage guard"):

* Each cell (candidate, estimator, outcome) covered the truth in ``k`` of ``R`` independent
  runs, so ``k ~ Binomial(R, c)`` with ``c`` its true coverage. The null hypothesis of a cell
  is that the intervals are what they claim, ``c ≥ level`` (0.95); its one-sided exact
  p-value is ``P(Binomial(R, level) ≤ k)``. A per-cell bar such as "≥ 90 %" ignores that a
  cell at 100 runs has a standard error of ~2–3 points, and the minimum of ~20 such cells
  falls below it by chance.
* The cells are tested together with Holm's step-down procedure (Holm 1979), which holds
  the family-wise error rate under any dependence between cells (the cells share runs).
* A uniform shortfall a little too small for any one cell to show is caught by the mean
  coverage over cells. It is the mean over runs of each run's covered fraction
  ``z_r ∈ [0, 1]``; runs are independent, and a variable in [0, 1] with mean μ has variance
  at most μ(1 − μ) (Bhatia & Davis 2000), the variance of a Bernoulli(μ): the mean of
  ``R`` runs is at most as dispersed as a binomial proportion of ``R`` trials, which it is
  exactly when the cells move together. Its p-value is that binomial's tail at
  ``ceil(R · mean)``: conservative whenever the cells do not all move together.
* The family-wise error ``alpha`` (1 %) is split evenly between the mean and the cells.

At 100 runs it has little power against a small shortfall in one cell (a cell at 90 % among
cells at 95 % is rejected in about 7 % of draws) and much against broad or gross ones (every
cell at 88 %: 99 % with independent cells; docs/ope.md has the table); ``shrunk`` builds the
negative control that the CI check must fail.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import binom, norm


@dataclass(frozen=True)
class GuardResult:
    runs: int
    level: float
    alpha: float
    mean_coverage: float
    mean_p: float
    cell_p: dict[str, float]
    rejected: tuple[str, ...]  # cells whose coverage is significantly below the level
    mean_rejected: bool

    @property
    def passed(self) -> bool:
        return not self.rejected and not self.mean_rejected

    def summary(self) -> str:
        worst = min(self.cell_p, key=self.cell_p.get)
        verdict = "PASS" if self.passed else "FAIL"
        lines = [f"coverage guard ({self.runs} runs, H0: coverage ≥ {self.level:.0%}, "
                 f"family-wise α = {self.alpha:g}): {verdict}",
                 f"  mean coverage over {len(self.cell_p)} cells {self.mean_coverage:.1%}, "
                 f"p = {self.mean_p:.2g} (rejected below {self.alpha / 2:g})",
                 f"  lowest cell p = {self.cell_p[worst]:.2g} ({worst}); Holm over the cells "
                 f"at {self.alpha / 2:g}"]
        if self.rejected:
            lines.append("  below the level: " + ", ".join(self.rejected))
        return "\n".join(lines)


def holm(pvalues: dict[str, float], alpha: float) -> tuple[str, ...]:
    """The hypotheses Holm's step-down procedure rejects at family-wise error ``alpha``."""
    order = sorted(pvalues, key=pvalues.get)
    m = len(order)
    rejected = []
    for i, key in enumerate(order):
        if pvalues[key] > alpha / (m - i):
            break
        rejected.append(key)
    return tuple(rejected)


def coverage_guard(covered: dict[str, int], runs: int, level: float = 0.95,
                   alpha: float = 0.01) -> GuardResult:
    """Test ``covered`` (cell → number of the ``runs`` whose interval covered the truth)."""
    if runs < 1 or not covered or not 0 < level < 1 or not 0 < alpha < 1:
        raise ValueError("need runs ≥ 1, at least one cell, 0 < level < 1 and 0 < alpha < 1")
    if any(not 0 <= k <= runs for k in covered.values()):
        raise ValueError("a cell's count of covering runs must lie in [0, runs]")
    cell_p = {key: float(binom.cdf(k, runs, level)) for key, k in covered.items()}
    mean = sum(covered.values()) / (runs * len(covered))
    # ceil: the binomial count at or above the observed mean, a conservative p-value.
    mean_p = float(binom.cdf(math.ceil(runs * mean - 1e-9), runs, level))
    return GuardResult(runs=runs, level=level, alpha=alpha, mean_coverage=mean, mean_p=mean_p,
                       cell_p=cell_p, rejected=holm(cell_p, alpha / 2),
                       mean_rejected=mean_p <= alpha / 2)


def shrink_factor(level: float = 0.95, to: float = 0.85) -> float:
    """The factor that turns a normal ``level`` interval into a ``to`` one: the negative
    control's intervals are the real ones shrunk by it about the point estimate."""
    return float(norm.ppf(0.5 + to / 2) / norm.ppf(0.5 + level / 2))


def shrunk(value: float, low: float, high: float, factor: float) -> tuple[float, float]:
    """``[low, high]`` shrunk by ``factor`` about ``value`` (each side on its own, so a
    skewed percentile interval stays skewed)."""
    return value - factor * (value - low), value + factor * (high - value)


def simulated_rejection_rate(coverages: np.ndarray, runs: int, rng: np.random.Generator,
                             tables: int = 2000, correlated: bool = False,
                             level: float = 0.95, alpha: float = 0.01) -> float:
    """How often the guard fails a table of cells with these true coverages: independent
    cells, or (``correlated``) cells that all cover or miss together where their coverages
    allow (one uniform draw per run shared by every cell)."""
    coverages = np.asarray(coverages, dtype=float)
    fails = 0
    for _ in range(tables):
        u = rng.random((runs, 1 if correlated else len(coverages)))
        counts = (u < coverages[None, :]).sum(axis=0)
        result = coverage_guard({str(i): int(k) for i, k in enumerate(counts)}, runs,
                                level, alpha)
        fails += not result.passed
    return fails / tables
