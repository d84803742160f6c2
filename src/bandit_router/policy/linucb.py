"""LinUCB with disjoint linear models (Li, Chu, Langford & Schapire, "A Contextual-Bandit
Approach to Personalized News Article Recommendation", WWW 2010).

The score is the upper confidence bound ``utility + alpha · sd``; its argmax is
deterministic, so the propensity before the exploration floor is 1 for the argmax arm
and 0 for the others (ties are broken towards the first candidate).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from bandit_router.policy.base import LinearPolicy


@dataclass(frozen=True)
class LinUCB(LinearPolicy):
    alpha: float = 1.0
    name: ClassVar[str] = "linucb"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.alpha < 0:
            raise ValueError("alpha must be ≥ 0")

    def _score(self, utility, sd, rng, lo=None):
        return utility + self.alpha * sd

    def _argmax_probability(self, chosen, utility, sd, elig_idx, lo=None):
        ucb = utility + self.alpha * sd
        return 1.0 if elig_idx[int(np.argmax(ucb))] == chosen else 0.0
