"""Logged bandit feedback in the shape the estimators need, whatever its source.

One row per logged decision that received feedback: the context, the candidate set the
logging policy could choose from, the arm it chose with the probability it logged, and
the outcome (reward, cost). ``sources.py`` builds it from the database or a simulation log.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np


class LogError(ValueError):
    """Logged data that cannot be evaluated, with a message saying what to fix."""


@dataclass(frozen=True)
class LoggedBandit:
    """Logged decisions with their propensities and outcomes (row order = time order).

    ``eligible[i, k]`` is True when arm ``k`` was a candidate the logging policy could
    choose at row ``i``. ``X`` (contexts), ``arm_costs`` (each arm's price as known when
    deciding), ``versions`` (the posterior version that was live) and ``logged_cost_weight``
    are needed only by contextual candidate policies. ``excluded`` counts the decisions
    left out and why, so a report can say so.
    """

    arms: tuple[str, ...]
    actions: np.ndarray  # (n,) index into ``arms``
    rewards: np.ndarray  # (n,)
    costs: np.ndarray  # (n,) USD
    propensities: np.ndarray  # (n,) logging probability of the logged action
    eligible: np.ndarray  # (n, K) bool
    X: np.ndarray | None = None  # (n, d)
    arm_costs: np.ndarray | None = None  # (n, K) USD
    versions: np.ndarray | None = None  # (n,) posterior version live at the decision
    logged_cost_weight: np.ndarray | None = None  # (n,)
    request_ids: np.ndarray | None = None  # (n,) row of the simulation's data set
    excluded: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n, k = len(self.actions), len(self.arms)
        if n == 0:
            raise LogError("no logged decisions with feedback to evaluate")
        for name in ("rewards", "costs", "propensities"):
            if getattr(self, name).shape != (n,):
                raise LogError(f"{name} must have one entry per logged decision")
        if self.eligible.shape != (n, k):
            raise LogError("eligible must be (decisions × arms)")
        p = self.propensities
        if not np.all((p > 0) & (p <= 1 + 1e-9)):
            raise LogError(
                f"{int(np.sum((p <= 0) | (p > 1 + 1e-9)))} logged propensities lie outside (0, 1]:"
                " inverse propensity weighting needs the probability the logged arm had"
            )
        if not np.all(self.eligible[np.arange(n), self.actions]):
            raise LogError("a logged action is not among its decision's candidates")
        for name in ("X", "arm_costs", "versions", "logged_cost_weight", "request_ids"):
            a = getattr(self, name)
            if a is not None and len(a) != n:
                raise LogError(f"{name} must have one row per logged decision")

    @property
    def n(self) -> int:
        return len(self.actions)

    @property
    def k(self) -> int:
        return len(self.arms)

    def take(self, rows: np.ndarray) -> "LoggedBandit":
        """The decisions ``rows`` (e.g. a subset for a quick look)."""
        pick = (lambda a: None if a is None else a[rows])
        return replace(self, actions=self.actions[rows], rewards=self.rewards[rows],
                       costs=self.costs[rows], propensities=self.propensities[rows],
                       eligible=self.eligible[rows], X=pick(self.X),
                       arm_costs=pick(self.arm_costs), versions=pick(self.versions),
                       logged_cost_weight=pick(self.logged_cost_weight),
                       request_ids=pick(self.request_ids))

