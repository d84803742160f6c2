"""Routing policies: numpy/scipy only, shared by the service and the simulations.

>>> from bandit_router.policy import Posterior, Prior, ThompsonSampling
"""

from bandit_router.policy.base import Choice, LinearPolicy, NoEligibleArm
from bandit_router.policy.drift import DriftDetector
from bandit_router.policy.epsilon_greedy import EpsilonGreedy
from bandit_router.policy.linucb import LinUCB
from bandit_router.policy.posterior import ArmView, Posterior, Prior
from bandit_router.policy.stats import SufficientStats
from bandit_router.policy.thompson import ThompsonSampling

POLICIES = {"thompson": ThompsonSampling, "linucb": LinUCB}


def make_policy(name: str, propensity_floor: float = 0.01, alpha: float = 1.0) -> LinearPolicy:
    """Build a policy by name (``thompson`` or ``linucb``)."""
    if name == "thompson":
        return ThompsonSampling(propensity_floor=propensity_floor)
    if name == "linucb":
        return LinUCB(propensity_floor=propensity_floor, alpha=alpha)
    raise ValueError(f"unknown policy {name!r}; choose one of {sorted(POLICIES)}")


__all__ = [
    "ArmView",
    "Choice",
    "DriftDetector",
    "EpsilonGreedy",
    "LinUCB",
    "LinearPolicy",
    "NoEligibleArm",
    "POLICIES",
    "Posterior",
    "Prior",
    "SufficientStats",
    "ThompsonSampling",
    "make_policy",
]
