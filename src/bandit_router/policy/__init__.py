"""Routing policies: numpy/scipy only, shared by the service and the simulations.

>>> from bandit_router.policy import PolicySpec, Posterior, learn
"""

from bandit_router.policy.base import Choice, LinearPolicy, NoEligibleArm
from bandit_router.policy.drift import DriftDetector
from bandit_router.policy.epsilon_greedy import EpsilonGreedy
from bandit_router.policy.learning import Learned, Observations, learn
from bandit_router.policy.linucb import LinUCB
from bandit_router.policy.posterior import ArmView, Posterior, Prior
from bandit_router.policy.spec import PolicySpec
from bandit_router.policy.stats import SufficientStats
from bandit_router.policy.thompson import ThompsonSampling
from bandit_router.policy.warm import warm_start

__all__ = [
    "ArmView",
    "Choice",
    "DriftDetector",
    "EpsilonGreedy",
    "Learned",
    "LinUCB",
    "LinearPolicy",
    "NoEligibleArm",
    "Observations",
    "PolicySpec",
    "Posterior",
    "Prior",
    "SufficientStats",
    "ThompsonSampling",
    "learn",
    "warm_start",
]
