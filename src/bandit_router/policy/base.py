"""What every linear routing policy shares: utility, eligibility and the exploration floor.

A policy *chooses* one arm for a context from an :class:`ArmView`. Utility is
``predicted reward − cost_weight · cost``, where ``cost`` is each arm's price as learned from
past charges (:meth:`ArmView.learned_cost`) given the estimate passed in. To make logged data usable for off-policy
evaluation, every choice is mixed with a uniform choice among the eligible arms with
probability ``ε = min(1, floor · K)``, so every eligible arm has propensity ≥ ``floor``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from bandit_router.policy.posterior import ArmView


class NoEligibleArm(ValueError):
    """Raised when the eligibility mask excludes every candidate."""


@dataclass(frozen=True)
class Choice:
    """A decision among the candidates of an :class:`ArmView` (indices into ``arms``)."""

    index: int
    propensity: float
    ranking: np.ndarray  # eligible candidate indices, chosen first, then by utility
    mean: np.ndarray  # predicted reward per candidate
    sd: np.ndarray  # posterior standard deviation of the predicted reward
    utility: np.ndarray  # mean − cost_weight · cost
    score: np.ndarray  # the number the policy maximised (sample, or upper bound)
    explored: bool  # True when the uniform exploration floor made the choice
    cost: np.ndarray | None = None  # learned price per candidate (None: no price given)


@dataclass(frozen=True)
class LinearPolicy(ABC):
    """Base of the linear policies; subclasses define the score and its argmax probability."""

    propensity_floor: float = 0.01

    name: ClassVar[str] = "linear"

    def __post_init__(self) -> None:
        if not 0.0 <= self.propensity_floor <= 0.5:
            raise ValueError("propensity_floor must lie in [0, 0.5]")

    def choose(
        self,
        view: ArmView,
        x: np.ndarray,
        rng: np.random.Generator,
        cost: np.ndarray | None = None,
        cost_weight: float = 0.0,
        eligible: np.ndarray | None = None,
    ) -> Choice:
        eligible, elig_idx, mean, sd, utility, eps, cost = self._prepare(view, x, cost,
                                                                         cost_weight, eligible)
        score = self._score(utility, sd, rng)
        masked = np.where(eligible, score, -np.inf)
        greedy = int(np.argmax(masked))
        n_elig = len(elig_idx)
        explored = bool(eps > 0 and rng.random() < eps)
        chosen = int(rng.choice(elig_idx)) if explored else greedy
        p_policy = self._argmax_probability(chosen, utility[elig_idx], sd[elig_idx], elig_idx)
        propensity = (1.0 - eps) * p_policy + eps / n_elig
        rest = elig_idx[elig_idx != chosen]
        rest = rest[np.argsort(-utility[rest], kind="stable")]
        ranking = np.concatenate(([chosen], rest)).astype(np.intp)
        return Choice(chosen, float(propensity), ranking, mean, sd, utility, score, explored,
                      cost)

    def probabilities(
        self,
        view: ArmView,
        x: np.ndarray,
        cost: np.ndarray | None = None,
        cost_weight: float = 0.0,
        eligible: np.ndarray | None = None,
    ) -> np.ndarray:
        """Every candidate's probability that :meth:`choose` picks it at ``x``.

        Includes the uniform exploration floor and is 0 for ineligible candidates; entry
        ``i`` equals the ``propensity`` that ``choose`` logs when it picks ``i``. Off-policy
        evaluation uses it as the candidate policy's ``π(a | x)``.
        """
        eligible, elig_idx, _, sd, utility, eps, _ = self._prepare(view, x, cost, cost_weight,
                                                                   eligible)
        u, s = utility[elig_idx], sd[elig_idx]
        p_policy = np.array([self._argmax_probability(c, u, s, elig_idx) for c in elig_idx])
        out = np.zeros(len(view.arms))
        out[elig_idx] = (1.0 - eps) * p_policy + eps / len(elig_idx)
        return out

    def _prepare(self, view: ArmView, x: np.ndarray, cost: np.ndarray | None,
                 cost_weight: float, eligible: np.ndarray | None):
        """Eligibility mask and indices, predictions, utilities, the floor's ε and the
        learned prices."""
        k = len(view.arms)
        eligible = np.ones(k, dtype=bool) if eligible is None else np.asarray(eligible, bool)
        elig_idx = np.flatnonzero(eligible)
        if len(elig_idx) == 0:
            raise NoEligibleArm("no candidate is eligible")
        mean, sd = view.predict(x)
        if cost is not None:
            cost = view.learned_cost(x, cost)
        utility = mean if cost is None or cost_weight == 0 else mean - cost_weight * cost
        n_elig = len(elig_idx)
        eps = min(1.0, self.propensity_floor * n_elig) if n_elig > 1 else 0.0
        return eligible, elig_idx, mean, sd, utility, eps, cost

    @abstractmethod
    def _score(self, utility: np.ndarray, sd: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The per-arm number whose argmax is the policy's (pre-floor) choice."""

    @abstractmethod
    def _argmax_probability(
        self, chosen: int, utility: np.ndarray, sd: np.ndarray, elig_idx: np.ndarray
    ) -> float:
        """P(the policy's score is maximised by ``chosen``) given the eligible arms' inputs."""
