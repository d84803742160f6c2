"""The learning step: previous statistics + new feedback → new statistics, posterior, alarms.

One refit, wherever it runs (the refit job on logged feedback, the simulator's batched
replay, off-policy evaluation's replayed posteriors):

1. decay the statistics to ``now`` (half-life of the :class:`PolicySpec`);
2. per batch of observations, in arrival order: give models never seen before an empty
   row, scan the batch for a change of each model's reward against the posterior the
   decisions were made with (and forget a changed model's past), add the batch (rewards,
   and, where the batch has prices, how far each charge was from its estimate:
   :mod:`bandit_router.policy.cost`, unless ``spec.learn_cost`` is off);
3. fit the posterior.

It is pure: the statistics passed in are left untouched. A batch with every model's
outcome for each request (:meth:`Observations.full_information`, as the supervised
``ceiling`` or a warm start from offline evaluations have) is just more rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from bandit_router.policy import cost
from bandit_router.policy.posterior import Posterior
from bandit_router.policy.spec import PolicySpec
from bandit_router.policy.stats import SufficientStats


@dataclass(frozen=True)
class Observations:
    """Row ``i``: model ``models[arm[i]]`` at context ``X[i]`` earned ``reward[i]``, observed at
    ``times[i]`` (None: at ``now``, full weight). ``weight[i]`` says how many observations'
    worth of evidence the row is (None: one each), e.g. below 1 for a warm start from offline
    evaluations; the change detector reads residuals, not weights. ``estimate[i]`` and
    ``charged[i]`` are the call's price as estimated when deciding and as charged (USD; None,
    or NaN in a row: unknown); the cost regression learns from the two
    (:mod:`bandit_router.policy.cost`)."""

    models: tuple[str, ...]
    arm: np.ndarray  # (n,) indices into models
    X: np.ndarray  # (n, d)
    reward: np.ndarray  # (n,)
    times: np.ndarray | None = None  # (n,)
    weight: np.ndarray | None = None  # (n,) ≥ 0
    estimate: np.ndarray | None = None  # (n,) USD
    charged: np.ndarray | None = None  # (n,) USD

    def __post_init__(self) -> None:
        n = len(self.arm)
        if self.X.shape[0] != n or len(self.reward) != n or any(
                a is not None and len(a) != n
                for a in (self.times, self.weight, self.estimate, self.charged)):
            raise ValueError("observations need one context, reward, time, weight and price "
                             "per row")
        if (self.estimate is None) != (self.charged is None):
            raise ValueError("observations give both prices of a call (estimate and charged) "
                             "or neither")
        if self.weight is not None and not np.all(np.asarray(self.weight) >= 0):
            raise ValueError("observation weights must be ≥ 0")

    @classmethod
    def of_models(cls, models: Sequence[str], X: np.ndarray, reward: np.ndarray,
                  times: np.ndarray | None = None, estimate: np.ndarray | None = None,
                  charged: np.ndarray | None = None) -> "Observations":
        """Rows named by model, e.g. logged feedback joined to its decisions; ``models`` of the
        result are the names in sorted order."""
        first: dict[str, int] = {}  # a dict, not np.unique: 5x faster on 20,000 names
        code = np.fromiter((first.setdefault(m, len(first)) for m in models), dtype=np.intp,
                           count=len(models))
        names = sorted(first)
        rank = np.empty(len(names), dtype=np.intp)
        rank[[first[m] for m in names]] = np.arange(len(names))
        return cls(tuple(names), rank[code], X, reward, times, estimate=estimate,
                   charged=charged)

    @classmethod
    def full_information(cls, models: Sequence[str], X: np.ndarray, rewards: np.ndarray,
                         times: np.ndarray | None = None, available: np.ndarray | None = None,
                         weight: float | np.ndarray | None = None,
                         estimate: np.ndarray | None = None,
                         charged: np.ndarray | None = None) -> "Observations":
        """Every model's outcome ``rewards[i, k]`` on request ``i`` (where ``available[i, k]``),
        each worth ``weight`` observations (a number, or one per cell), with each call's
        estimated and charged price ``estimate[i, k]``, ``charged[i, k]`` (optional)."""
        n, k = rewards.shape
        rows, arm = np.repeat(np.arange(n), k), np.tile(np.arange(k), n)
        if available is not None:
            ok = available[rows, arm]
            rows, arm = rows[ok], arm[ok]
        w = None if weight is None else np.broadcast_to(
            np.asarray(weight, dtype=np.float64), (n, k))[rows, arm]
        cell = (lambda a: None if a is None else np.asarray(a, dtype=np.float64)[rows, arm])
        return cls(tuple(models), arm, X[rows], rewards[rows, arm],
                   None if times is None else times[rows], w, cell(estimate), cell(charged))

    def __len__(self) -> int:
        return len(self.arm)

    def cost_target(self) -> np.ndarray | None:
        """Each row's target of the cost regression; None when no prices were given."""
        return None if self.estimate is None else cost.target(self.estimate, self.charged)


@dataclass(frozen=True)
class Learned:
    """What a learning step produced; ``drift_alarms`` are the models whose reward changed
    (each once, in the order found): their evidence before the change was cut down."""

    stats: SufficientStats
    posterior: Posterior
    drift_alarms: tuple[str, ...] = ()
    rows: int = 0  # observations added


def learn(spec: PolicySpec, stats: SufficientStats, batches: Iterable[Observations],
          now: float, *, fitted: Posterior | None = None, version: int = 0) -> Learned:
    """One learning step (see the module docstring).

    ``fitted`` is the posterior the batches' decisions were made with; the change detector
    measures residuals against it (None: no change scan). ``version`` labels the posterior.
    """
    stats = stats.copy()
    stats.decay_to(now, spec.half_life)
    alarms: list[str] = []
    rows = 0
    for batch in batches:
        if len(batch) == 0:
            continue
        known = set(stats.arms)
        unseen = [m for m in batch.models if m not in known]
        if unseen:
            stats = stats.with_arms(stats.arms + unseen)
        index = {a: i for i, a in enumerate(stats.arms)}
        arm_idx = np.array([index[m] for m in batch.models], dtype=np.intp)[batch.arm]
        if spec.drift is not None:
            alarms += spec.drift.scan(stats, fitted, arm_idx, batch.X, batch.reward)
        stats.update(arm_idx, batch.X, batch.reward, times=batch.times,
                     half_life=spec.half_life, weight=batch.weight,
                     cost_target=batch.cost_target() if spec.learn_cost else None)
        rows += len(batch)
    posterior = Posterior.fit(stats, spec.prior, version)
    return Learned(posterior.stats, posterior, tuple(dict.fromkeys(alarms)), rows)
