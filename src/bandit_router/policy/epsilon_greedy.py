"""ε-greedy on the posterior mean (Sutton & Barto, *Reinforcement Learning*, §2.2).

The greedy arm maximises the predicted utility; exploration is the base class's uniform
floor, so ``ε = min(1, propensity_floor · K)``: build it with
``EpsilonGreedy(propensity_floor=ε / K)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from bandit_router.policy.base import LinearPolicy


@dataclass(frozen=True)
class EpsilonGreedy(LinearPolicy):
    propensity_floor: float = 0.05
    name: ClassVar[str] = "epsilon-greedy"

    def _score(self, utility, sd, rng, lo=None):
        return utility

    def _argmax_probability(self, chosen, utility, sd, elig_idx, lo=None):
        return 1.0 if elig_idx[int(np.argmax(utility))] == chosen else 0.0
