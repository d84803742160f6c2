"""Off-policy estimators of a candidate policy's mean outcome from logged bandit feedback.

Every estimator here is a ratio of sums over logged decisions,
``V̂ = Σ_i numerator_i / Σ_i denominator_i``, with one numerator column per outcome
(reward, cost, utility). Writing them this way lets the bootstrap resample all of them
with one matrix product (see ``bootstrap.py``).

Notation: logged decision ``i`` has context ``x_i``, action ``a_i`` chosen with logged
propensity ``p_i`` and outcome ``y_i``; the candidate chooses ``a`` with ``π_e(a | x)``;
``w_i = π_e(a_i | x_i) / p_i`` is the importance weight; ``q̂(x, a)`` is a model of the
outcome.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np


@dataclass(frozen=True)
class EstimatorInputs:
    """What the estimators read: outcomes (n, m), weights (n,) and, for DR, q̂ (n, m) twice."""

    outcomes: np.ndarray  # y_i per outcome column
    weights: np.ndarray  # w_i
    q_logged: np.ndarray | None = None  # q̂(x_i, a_i)
    q_target: np.ndarray | None = None  # Σ_a π_e(a | x_i) q̂(x_i, a)

    @classmethod
    def build(cls, outcomes: np.ndarray, actions: np.ndarray, propensities: np.ndarray,
              target: np.ndarray, q: np.ndarray | None = None) -> "EstimatorInputs":
        """From the logged actions and propensities, ``π_e`` (n, K) and q̂ (n, K, m)."""
        rows = np.arange(len(actions))
        weights = target[rows, actions] / propensities
        if q is None:
            return cls(outcomes, weights)
        return cls(outcomes, weights, q[rows, actions], np.einsum("nk,nkm->nm", target, q))


class Estimator(ABC):
    """A ratio-of-sums estimator of the candidate policy's mean outcome."""

    name: ClassVar[str]
    needs_model: ClassVar[bool] = False

    @abstractmethod
    def terms(self, inputs: EstimatorInputs) -> tuple[np.ndarray, np.ndarray]:
        """Per-decision numerators (n, m) and denominators (n,)."""

    def estimate(self, inputs: EstimatorInputs) -> np.ndarray:
        """The estimated mean of each outcome column under the candidate policy."""
        numer, denom = self.terms(inputs)
        return numer.sum(axis=0) / denom.sum()


class InverseProbabilityWeighting(Estimator):
    """IPS: ``(1/n) Σ w_i y_i``, unbiased whenever ``p_i > 0`` wherever ``π_e`` puts mass.

    Horvitz & Thompson, "A Generalization of Sampling Without Replacement From a Finite
    Universe", JASA 1952; in bandits, Precup, Sutton & Singh (2000) and Li et al.,
    "Unbiased Offline Evaluation of Contextual-bandit-based News Article Recommendation
    Algorithms", WSDM 2011.
    """

    name = "IPS"

    def terms(self, inputs):
        return inputs.weights[:, None] * inputs.outcomes, np.ones(len(inputs.weights))


class SelfNormalizedIPW(Estimator):
    """SNIPS: ``Σ w_i y_i / Σ w_i``; slightly biased, much less variable than IPS.

    Swaminathan & Joachims, "The Self-Normalized Estimator for Counterfactual Learning",
    NeurIPS 2015.
    """

    name = "SNIPS"

    def terms(self, inputs):
        return inputs.weights[:, None] * inputs.outcomes, inputs.weights


class DoublyRobust(Estimator):
    """DR: ``(1/n) Σ [Σ_a π_e(a|x_i) q̂(x_i,a) + w_i (y_i − q̂(x_i,a_i))]``.

    Unbiased when either the propensities or the outcome model are right, and with lower
    variance than IPS when q̂ is good. Dudík, Langford & Li, "Doubly Robust Policy
    Evaluation and Learning", ICML 2011.
    """

    name = "DR"
    needs_model = True

    def terms(self, inputs):
        if inputs.q_logged is None or inputs.q_target is None:
            raise ValueError("the doubly robust estimator needs outcome-model predictions")
        w = inputs.weights[:, None]
        return inputs.q_target + w * (inputs.outcomes - inputs.q_logged), np.ones(len(w))


ESTIMATORS: tuple[Estimator, ...] = (InverseProbabilityWeighting(), SelfNormalizedIPW(),
                                     DoublyRobust())
