"""Warm start: learn from offline evaluations (prompts × models → score) in the learning step.

Every model's score of an evaluated prompt counts as one observation of that model at the
prompt's features (*full information*: unlike live traffic, where only the chosen model is
seen). ``weight`` says how much one offline observation counts against one live one: 1
treats them alike, 0.1 lets ten live observations outweigh one offline. The evaluations go
through :func:`~bandit_router.policy.learning.learn` like any feedback observed at ``now``,
so discounting, change detection and later refits treat them as live evidence.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from bandit_router.policy.learning import Learned, Observations, learn
from bandit_router.policy.spec import PolicySpec
from bandit_router.policy.stats import SufficientStats


def warm_start(spec: PolicySpec, stats: SufficientStats, models: Sequence[str], X: np.ndarray,
               scores: np.ndarray, now: float, weight: float = 1.0,
               version: int = 0, estimate: np.ndarray | None = None,
               charged: np.ndarray | None = None) -> Learned:
    """``stats`` plus ``scores[i, j]`` (model ``models[j]`` on the request with features
    ``X[i]``; NaN: not evaluated), each counting ``weight``, fitted under ``spec``. With
    ``estimate`` and ``charged`` (same shape as ``scores``: each call's price as a decision
    would estimate it and as it was charged; NaN: unknown) the cost regression learns too."""
    X = np.asarray(X, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    if X.ndim != 2 or scores.shape != (len(X), len(models)):
        raise ValueError("offline evaluations need one feature row and one score per model "
                         "for every request")
    if not weight > 0:
        raise ValueError("the weight of offline evaluations must be positive")
    if (estimate is None) != (charged is None) or any(
            a is not None and np.shape(a) != scores.shape for a in (estimate, charged)):
        raise ValueError("offline prices need an estimate and a charge per score")
    obs = Observations.full_information(models, X, np.nan_to_num(scores),
                                        available=np.isfinite(scores), weight=weight,
                                        estimate=estimate, charged=charged)
    return learn(spec, stats, [obs], now, version=version)
