"""Reference routers that do not learn: random, always-cheapest, always-strongest, oracle.

Each takes the whole stream at once (they need no feedback) and returns, per step, the
chosen model index and its propensity. Ties in the oracle go to the cheaper model.
"""

from __future__ import annotations

import numpy as np

from simulations.data import Dataset


def _eligible(data: Dataset) -> np.ndarray:
    return np.ones((data.n, data.k), bool) if data.available is None else data.available


def random_router(data: Dataset, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Uniform among the models available at each step."""
    elig = _eligible(data)
    score = np.where(elig, rng.random((data.n, data.k)), -1.0)
    return score.argmax(axis=1), 1.0 / elig.sum(axis=1)


def fixed_router(data: Dataset, arm: int) -> tuple[np.ndarray, np.ndarray]:
    """Always ``arm``; falls back to the cheapest available model while it is unavailable."""
    elig = _eligible(data)
    fallback = np.where(elig, data.cost, np.inf).argmin(axis=1)
    chosen = np.where(elig[:, arm], arm, fallback)
    return chosen, np.ones(data.n)


def oracle_router(data: Dataset, cost_weight: float) -> tuple[np.ndarray, np.ndarray]:
    """The per-request best expected utility ``expected − cost_weight · cost`` in hindsight."""
    u = oracle_utility_matrix(data, cost_weight)
    return u.argmax(axis=1), np.ones(data.n)


def oracle_utility_matrix(data: Dataset, cost_weight: float) -> np.ndarray:
    """Expected utility per (request, model), −inf where unavailable, cheaper wins ties."""
    u = data.expected - cost_weight * data.cost
    tie = 1e-9 * data.cost / max(float(data.cost.max()), 1e-300)
    return np.where(_eligible(data), u - tie, -np.inf)
