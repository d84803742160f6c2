"""Percentile bootstrap confidence intervals for ratio-of-sums estimators.

Decisions are resampled with replacement ``n_boot`` times (Efron & Tibshirani, *An
Introduction to the Bootstrap*, 1993, ch. 13); every estimator is recomputed on the same
resamples, so their intervals are comparable and the result depends only on the seed of
the generator passed in. The outcome model of DR is held fixed across resamples, as in
the Open Bandit Pipeline.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from bandit_router.ope.estimators import Estimator, EstimatorInputs

# Resample in blocks so that one block of gathered terms stays near 32 MB.
_BLOCK_CELLS = 4_000_000


def bootstrap_intervals(
    estimators: Sequence[Estimator], inputs: EstimatorInputs, rng: np.random.Generator,
    n_boot: int = 1000, level: float = 0.95,
) -> dict[str, np.ndarray]:
    """``{name: (2, m) array of lower and upper bounds}`` per estimator and outcome column."""
    if n_boot < 2:
        raise ValueError("n_boot must be ≥ 2")
    if not 0 < level < 1:
        raise ValueError("level must lie in (0, 1)")
    terms = [e.terms(inputs) for e in estimators]
    n, m = inputs.outcomes.shape
    # One stacked (n, columns) matrix: every estimator's numerators then its denominator.
    stacked = np.column_stack([np.column_stack([num, den]) for num, den in terms])
    block = max(1, _BLOCK_CELLS // (n * stacked.shape[1]))
    sums = np.empty((n_boot, stacked.shape[1]))
    for start in range(0, n_boot, block):
        stop = min(n_boot, start + block)
        idx = rng.integers(0, n, size=(stop - start, n))
        sums[start:stop] = stacked[idx].sum(axis=1)
    alpha = (1 - level) / 2
    out = {}
    for j, est in enumerate(estimators):
        cols = sums[:, j * (m + 1):(j + 1) * (m + 1)]
        with np.errstate(invalid="ignore", divide="ignore"):
            values = cols[:, :m] / cols[:, m:]
        out[est.name] = np.nanquantile(values, [alpha, 1 - alpha], axis=0)
    return out
