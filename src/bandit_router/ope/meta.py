"""Run every estimator on one logged data set and one candidate, with intervals and diagnostics."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bandit_router.ope.bootstrap import bootstrap_intervals
from bandit_router.ope.data import LogError, LoggedBandit
from bandit_router.ope.estimators import ESTIMATORS, Estimator, EstimatorInputs
from bandit_router.ope.overlap import Overlap, OverlapThresholds, overlap
from bandit_router.ope.reward_model import cross_fitted_predictions

OUTCOMES = ("reward", "cost_usd", "utility")


@dataclass(frozen=True)
class EvaluationConfig:
    n_boot: int = 1000
    level: float = 0.95
    folds: int = 5
    ridge: float = 1.0
    thresholds: OverlapThresholds = field(default_factory=OverlapThresholds)
    # Below this many decisions with feedback there is no estimate to speak of (a bootstrap
    # interval of one or two rows is a point); the evaluation says so instead.
    min_decisions: int = 10

    def __post_init__(self) -> None:
        if (self.n_boot < 2 or not 0 < self.level < 1 or self.folds < 1 or self.ridge <= 0
                or self.min_decisions < 1):
            raise ValueError("need n_boot ≥ 2, 0 < level < 1, folds ≥ 1, ridge > 0 and "
                             "min_decisions ≥ 1")


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float
    high: float


@dataclass(frozen=True)
class Evaluation:
    """Estimates of the candidate's mean reward, cost per request and utility."""

    candidate: str
    n: int
    level: float
    cost_weight: float | None  # λ of the utility; None = each decision's logged λ
    logged: dict[str, float]  # what the logging policy itself earned, per outcome
    estimates: dict[str, dict[str, Estimate]]  # estimator → outcome → estimate
    overlap: Overlap
    excluded: dict[str, int]

    @property
    def trustworthy(self) -> bool:
        return self.overlap.trustworthy


def _price_features(data: LoggedBandit) -> np.ndarray | None:
    """Each model's price as estimated when deciding, scaled to order one: the regressor that
    lets the doubly robust cost model predict a cost (tokens × price) that is not linear in
    the request features. Without it the cost's importance-weighted residuals keep the
    price's heavy tail (docs/ope.md, "Logs with operator rules")."""
    if data.arm_costs is None or not np.any(data.arm_costs > 0):
        return None
    return (data.arm_costs / data.arm_costs[data.arm_costs > 0].mean())[..., None]


def evaluate_policy(
    data: LoggedBandit, target: np.ndarray, rng: np.random.Generator, *,
    cost_weight: float | None = None, candidate: str = "candidate",
    config: EvaluationConfig = EvaluationConfig(),
    estimators: tuple[Estimator, ...] = ESTIMATORS,
) -> Evaluation:
    """Estimate what ``target`` (π_e, an (n, K) matrix over ``data.arms``) would have earned.

    Utility is ``reward − λ·cost`` with λ = ``cost_weight``, or each decision's logged λ
    when None (0 where none was logged). ``rng`` seeds the folds and the bootstrap.
    """
    if target.shape != (data.n, data.k):
        raise ValueError("target must hold one probability per decision and arm")
    if data.n < config.min_decisions:
        raise LogError(f"only {data.n} logged decision(s) with feedback: an off-policy estimate "
                       f"needs at least {config.min_decisions}; route more requests, post their "
                       "feedback, and evaluate again")
    if cost_weight is not None:
        lam = np.full(data.n, float(cost_weight))
    elif data.logged_cost_weight is not None:
        lam = data.logged_cost_weight
    else:
        lam = np.zeros(data.n)
    y = np.column_stack([data.rewards, data.costs, data.rewards - lam * data.costs])
    q = None
    if any(e.needs_model for e in estimators):
        X = data.X if data.X is not None else np.ones((data.n, 1))
        q_rc = cross_fitted_predictions(X, data.actions, y[:, :2], data.k, rng,
                                        folds=config.folds, ridge=config.ridge,
                                        arm_features=_price_features(data))
        q = np.concatenate([q_rc, (q_rc[..., 0] - lam[:, None] * q_rc[..., 1])[..., None]],
                           axis=2)
    inputs = EstimatorInputs.build(y, data.actions, data.propensities, target, q)
    intervals = bootstrap_intervals(estimators, inputs, rng, config.n_boot, config.level)
    estimates = {}
    for est in estimators:
        value = est.estimate(inputs)
        lo, hi = intervals[est.name]
        estimates[est.name] = {o: Estimate(float(value[j]), float(lo[j]), float(hi[j]))
                               for j, o in enumerate(OUTCOMES)}
    return Evaluation(
        candidate=candidate, n=data.n, level=config.level, cost_weight=cost_weight,
        logged={o: float(v) for o, v in zip(OUTCOMES, y.mean(axis=0))},
        estimates=estimates,
        overlap=overlap(inputs.weights, data.propensities, config.thresholds),
        excluded=dict(data.excluded),
    )
