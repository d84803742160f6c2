"""Warm start: turn offline evaluations (prompts × models → score) into evidence.

Every model's score of an evaluated prompt counts as one observation of that model at the
prompt's features (*full information*: unlike live traffic, where only the chosen model is
seen). ``weight`` says how much one offline observation counts against one live one: 1
treats them alike, 0.1 lets ten live observations outweigh one offline. The result is plain
:class:`SufficientStats`, so discounting, change detection and later refits treat the
offline evidence exactly like feedback received at the warm-start time.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from bandit_router.policy.stats import SufficientStats


def offline_evidence(models: Sequence[str], X: np.ndarray, scores: np.ndarray,
                     weight: float = 1.0, t: float = 0.0) -> SufficientStats:
    """Statistics of ``scores[i, j]`` (model ``models[j]`` on the request with features
    ``X[i]``), each observation weighted ``weight``; NaN scores are skipped."""
    X = np.asarray(X, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    if X.ndim != 2 or scores.shape != (len(X), len(models)):
        raise ValueError("offline evidence needs one feature row and one score per model "
                         "for every request")
    if not weight > 0:
        raise ValueError("the weight of offline evidence must be positive")
    stats = SufficientStats.empty(list(models), X.shape[1], t=t)
    rows, arms = np.nonzero(np.isfinite(scores))
    stats.update(arms, X[rows], scores[rows, arms])
    return SufficientStats.empty([], X.shape[1], t=t).absorb(stats, weight)
