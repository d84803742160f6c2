"""Off-policy evaluation: what a candidate routing configuration would have earned on the
logged decisions, with IPS, self-normalised IPS and doubly robust estimators.

>>> from bandit_router.ope import Candidate, action_probabilities, evaluate_policy
"""

from bandit_router.ope.data import LogError, LoggedBandit
from bandit_router.ope.estimators import (
    ESTIMATORS,
    DoublyRobust,
    EstimatorInputs,
    InverseProbabilityWeighting,
    SelfNormalizedIPW,
)
from bandit_router.ope.meta import Evaluation, EvaluationConfig, evaluate_policy
from bandit_router.ope.overlap import Overlap, OverlapThresholds, overlap
from bandit_router.ope.target import Candidate, ReplayedPosteriors, action_probabilities

__all__ = [
    "Candidate",
    "DoublyRobust",
    "ESTIMATORS",
    "EstimatorInputs",
    "Evaluation",
    "EvaluationConfig",
    "InverseProbabilityWeighting",
    "LogError",
    "LoggedBandit",
    "Overlap",
    "OverlapThresholds",
    "ReplayedPosteriors",
    "SelfNormalizedIPW",
    "action_probabilities",
    "evaluate_policy",
    "overlap",
]
