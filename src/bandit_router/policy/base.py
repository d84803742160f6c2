"""What every linear routing policy shares: utility, eligibility and the exploration floor.

A policy *chooses* one arm for a context from an :class:`ArmView`. Utility is
``predicted reward − cost_weight · cost``, where ``cost`` is each arm's price as learned from
past charges (:meth:`ArmView.learned_cost`) given the estimate passed in. To make logged data
usable for off-policy evaluation, every choice is mixed with a floor: with probability ``F = Σ_a f_a`` an arm is
drawn from ``f / F`` instead of the policy's rule, so arm ``a``'s propensity is
``(1 − F) · p_policy(a) + f_a`` and never below ``f_a``. The floor vector ``f`` is a
deterministic function of the decision's inputs, so every propensity is exact.

Two rules set ``f`` (over the ``n`` eligible arms):

* per arm (``floor_mass = 0``, the rule before issue #17): ``f_a = propensity_floor``,
  so ``F = min(1, propensity_floor · n)`` grows with the number of models: at K = 10 and the
  default 0.01, 10 % of all traffic is uniform, the dearest model included;
* total mass (``floor_mass > 0``): ``F = floor_mass`` whatever K. With ``floor_prune = z``
  > 0 an arm whose upper bound ``u + z·sd`` lies below some arm's lower bound ``u − z·sd``
  (with high posterior probability worse in utility, i.e. dearer and not better, or cheaper
  and worse by more than it saves) keeps only ``propensity_floor``; the rest of the mass is
  spread over the arms not so dominated. Without pruning, ``f_a = floor_mass / n``. The
  mass is raised to ``min(1, propensity_floor · n)`` when that is larger, so
  ``propensity_floor`` stays every eligible arm's minimum under either rule.
  With ``floor_bounded`` each bound is kept within the arm's utility range
  ``[−λ·cost, 1 − λ·cost]`` (rewards lie in [0, 1]): a dear arm whose best possible utility
  is below another's lower bound is dominated however wide its posterior.

Every eligible arm's propensity is at least ``min_propensity(n)``, which bounds the
importance weights of off-policy evaluation by its inverse.
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
    explored: bool  # True when the exploration floor made the choice
    cost: np.ndarray | None = None  # learned price per candidate (None: no price given)


@dataclass(frozen=True)
class LinearPolicy(ABC):
    """Base of the linear policies; subclasses define the score and its argmax probability."""

    propensity_floor: float = 0.01
    floor_mass: float = 0.0  # > 0: total floor mass, independent of K (see the module doc)
    floor_prune: float = 0.0  # > 0: z of the dominance test; needs floor_mass
    # The dominance test with each arm's bounds capped by the rewards' range [0, 1]: in
    # utility, [−λ·cost, 1 − λ·cost] (issue #17, fifth session); False: the rule before.
    floor_bounded: bool = False

    name: ClassVar[str] = "linear"

    def __post_init__(self) -> None:
        check_floor(self.propensity_floor, self.floor_mass, self.floor_prune)

    def min_propensity(self, n_eligible: int) -> float:
        """The least propensity any eligible arm can get among ``n_eligible``: the bound
        ``1 / min_propensity`` on off-policy importance weights."""
        if n_eligible <= 1:
            return 1.0
        if self.floor_mass > 0 and self.floor_prune <= 0:
            return self._mass(n_eligible) / n_eligible
        return min(self.propensity_floor, 1.0 / n_eligible)

    def _mass(self, n: int) -> float:
        """The floor's total over ``n`` eligible arms: never less than ``propensity_floor``
        for each of them."""
        per_model = min(1.0, self.propensity_floor * n)
        return per_model if self.floor_mass <= 0 else max(self.floor_mass, per_model)

    def choose(
        self,
        view: ArmView,
        x: np.ndarray,
        rng: np.random.Generator,
        cost: np.ndarray | None = None,
        cost_weight: float = 0.0,
        eligible: np.ndarray | None = None,
    ) -> Choice:
        eligible, elig_idx, mean, sd, utility, cost = self._prepare(view, x, cost, cost_weight,
                                                                    eligible)
        everyone = len(elig_idx) == len(utility)
        lo = self._low(utility, cost, cost_weight) if self._bounds_used() else None
        # Every candidate eligible (the common case): the eligible arms' arrays are the
        # arrays themselves, and the masks and index look-ups below are identities; the same
        # numbers either way, with a few array operations fewer per decision (issue 19).
        u, s = (utility, sd) if everyone else (utility[elig_idx], sd[elig_idx])
        lo_e = lo if lo is None or everyone else lo[elig_idx]
        open_, f_open, f_low, mass = self._floor(u, s, lo_e if self.floor_bounded else None)
        score = self._score(utility, sd, rng, lo)
        greedy = int((score if everyone else np.where(eligible, score, -np.inf)).argmax())
        explored = bool(mass > 0 and rng.random() < mass)
        if not explored:
            chosen = greedy
        elif open_ is None:  # the draw of the rule before issue #17, random stream included
            chosen = int(elig_idx[_uniform_index(rng, len(elig_idx))])
        else:
            chosen = int(elig_idx[_weighted_index(rng, np.where(open_, f_open, f_low) / mass)])
        c = chosen if everyone else int(np.searchsorted(elig_idx, chosen))  # ascending
        p_policy = self._argmax_probability(chosen, u, s, elig_idx, lo_e)
        floor_c = f_open if open_ is None or open_[c] else f_low
        propensity = (1.0 - mass) * p_policy + floor_c
        # The others by utility, ties in index order: a stable sort of the eligible arms.
        order = (-u).argsort(kind="stable")
        if not everyone:
            order = elig_idx[order]
        ranking = np.empty(len(order), dtype=np.intp)
        ranking[0] = chosen
        ranking[1:] = order[order != chosen]
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

        Includes the exploration floor and is 0 for ineligible candidates; entry ``i``
        equals the ``propensity`` that ``choose`` logs when it picks ``i``. Off-policy
        evaluation uses it as the candidate policy's ``π(a | x)``.
        """
        eligible, elig_idx, _, sd, utility, cost = self._prepare(view, x, cost, cost_weight,
                                                                 eligible)
        u, s = utility[elig_idx], sd[elig_idx]
        lo = self._low(utility, cost, cost_weight)[elig_idx] if self._bounds_used() else None
        open_, f_open, f_low, mass = self._floor(u, s, lo if self.floor_bounded else None)
        floor = f_open if open_ is None else np.where(open_, f_open, f_low)
        p_policy = np.array([self._argmax_probability(c, u, s, elig_idx, lo)
                             for c in elig_idx])
        out = np.zeros(len(view.arms))
        out[elig_idx] = (1.0 - mass) * p_policy + floor
        return out

    def _prepare(self, view: ArmView, x: np.ndarray, cost: np.ndarray | None,
                 cost_weight: float, eligible: np.ndarray | None):
        """Eligibility mask and indices, predictions, utilities and the learned prices."""
        k = len(view.arms)
        eligible = np.ones(k, dtype=bool) if eligible is None else np.asarray(eligible, bool)
        elig_idx = eligible.nonzero()[0]  # np.flatnonzero, without its Python wrapper
        if len(elig_idx) == 0:
            raise NoEligibleArm("no candidate is eligible")
        mean, sd = view.predict(x)
        if cost is not None:
            cost = view.learned_cost(x, cost)
        utility = mean if cost is None or cost_weight == 0 else mean - cost_weight * cost
        return eligible, elig_idx, mean, sd, utility, cost

    def _bounds_used(self) -> bool:
        """Whether a decision needs each arm's utility bounds (see :meth:`_low`)."""
        return self.floor_bounded

    @staticmethod
    def _low(utility: np.ndarray, cost: np.ndarray | None, cost_weight: float) -> np.ndarray:
        """Each arm's least utility, ``0 − λ·cost`` (rewards lie in [0, 1]; the most is this
        + 1)."""
        if cost is None or cost_weight == 0:
            return np.zeros(len(utility))
        return -cost_weight * cost

    def _floor(self, u: np.ndarray, s: np.ndarray, lo: np.ndarray | None = None
               ) -> tuple[np.ndarray | None, float, float, float]:
        """The floor over the eligible arms (given their utilities and spreads): ``(open,
        f_open, f_low, F)``, arm ``a`` getting ``f_open`` where ``open[a]`` and ``f_low``
        elsewhere; ``open`` None when every arm gets ``f_open``. Scalars and one mask, not
        a vector per decision: this runs on every decision. With ``lo`` (each arm's least
        utility; ``floor_bounded``) the dominance test's bounds are kept within each arm's
        range ``[lo, lo + 1]``."""
        n = len(u)
        if n == 1:
            return None, 0.0, 0.0, 0.0
        mass = self._mass(n)  # floor_mass 0: min(1, floor · n), as before issue #17, bit for bit
        if self.floor_mass <= 0 or self.floor_prune <= 0:
            return None, mass / n, mass / n, mass
        zs = self.floor_prune * s
        # not dominated; the best arm always is open (np.maximum.reduce: what .max() calls,
        # without its Python wrapper; the same value)
        if lo is None:
            open_ = u + zs >= np.maximum.reduce(u - zs)
        else:  # each bound within [lo, lo + 1], so an arm's lower bound ≤ its upper bound
            hi = lo + 1.0
            upper = np.minimum(np.maximum(u + zs, lo), hi)
            lower = np.minimum(np.maximum(u - zs, lo), hi)
            open_ = upper >= np.maximum.reduce(lower)
        n_open = int(np.count_nonzero(open_))
        if n_open == n:
            return None, mass / n, mass / n, mass
        low = min(self.propensity_floor, 1.0 / n)
        return open_, (mass - low * (n - n_open)) / n_open, low, mass

    @abstractmethod
    def _score(self, utility: np.ndarray, sd: np.ndarray, rng: np.random.Generator,
               lo: np.ndarray | None = None) -> np.ndarray:
        """The per-arm number whose argmax is the policy's (pre-floor) choice. ``lo``: each
        arm's least utility when :meth:`_bounds_used` (a policy may ignore it), else None."""

    @abstractmethod
    def _argmax_probability(
        self, chosen: int, utility: np.ndarray, sd: np.ndarray, elig_idx: np.ndarray,
        lo: np.ndarray | None = None
    ) -> float:
        """P(the policy's score is maximised by ``chosen``) given the eligible arms' inputs
        (``lo``: their least utilities, as for :meth:`_score`)."""


# The floor's draws, exactly as ``Generator.choice(a)`` and ``Generator.choice(a, p=p)`` make
# them (the same generator calls, so the same random stream and the same arm: the policy
# tests' digest pins it), without choice()'s argument checks and conversions: 28.8 → 1.2 µs
# and 57 → 9.8 µs per draw at a speed reference of 74 µs (issue 19, `timeit` beside choice()
# in one process), on the decisions that explore (the floor, 2 % by default).
def _uniform_index(rng: np.random.Generator, n: int) -> int:
    return int(rng.integers(0, n))


def _weighted_index(rng: np.random.Generator, p: np.ndarray) -> int:
    cdf = p.cumsum()
    cdf /= cdf[-1]
    return int(cdf.searchsorted(rng.random(), side="right"))


def check_floor(propensity_floor: float, floor_mass: float, floor_prune: float) -> None:
    """The floor knobs' ranges; :class:`PolicySpec` checks the same."""
    if not 0.0 <= propensity_floor <= 0.5:
        raise ValueError("propensity_floor must lie in [0, 0.5]")
    if not 0.0 <= floor_mass <= 0.5:
        raise ValueError("floor_mass must lie in [0, 0.5] (0: propensity_floor per model)")
    if floor_prune < 0:
        raise ValueError("floor_prune must be ≥ 0")
    if floor_prune > 0 and floor_mass <= 0:
        raise ValueError("floor_prune needs floor_mass > 0")
