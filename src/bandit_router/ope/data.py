"""Logged bandit feedback in the shape the estimators need, from any source.

One row per logged decision that received feedback: the context, the candidate set the
logging policy could choose from, the arm it chose with the probability it logged, and
the outcome (reward, cost). Sources: the service database (``store/logged.py``) and the
per-step CSV logs written by ``bandit-router simulate`` (:func:`read_simulation_log`).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

SIMULATION_LOG_COLUMNS = ("step", "request_id", "model", "propensity", "reward", "cost_usd")


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


def read_simulation_log(path: str | Path, run: str | None = None) -> LoggedBandit:
    """A per-step CSV log of ``bandit-router simulate`` as a context-free :class:`LoggedBandit`.

    Needs the columns ``step, request_id, model, propensity, reward, cost_usd``. A file
    holding several runs (columns ``policy, seed, cost_weight``) needs ``run`` =
    ``"POLICY:SEED:COST_WEIGHT"`` (a prefix such as ``"thompson:3"`` is enough when it is
    unique). Every model that appears in the run counts as a candidate at every step.
    """
    path = Path(path)
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in SIMULATION_LOG_COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise LogError(f"{path} lacks the column(s) {', '.join(missing)}")
        keyed = {"policy", "seed", "cost_weight"} <= set(reader.fieldnames or ())
        rows = list(reader)
    runs: dict[str, list[dict]] = {}
    for row in rows:
        key = f"{row['policy']}:{row['seed']}:{row['cost_weight']}" if keyed else ""
        runs.setdefault(key, []).append(row)
    if len(runs) > 1:
        matches = [k for k in runs if run is not None and (k == run or k.startswith(run + ":"))]
        if len(matches) != 1:
            listing = ", ".join(sorted(runs)[:20])
            raise LogError(f"{path} holds {len(runs)} runs; choose one with --run "
                           f"(POLICY:SEED:COST_WEIGHT), e.g. one of: {listing}")
        rows = runs[matches[0]]
    rows.sort(key=lambda r: int(r["step"]))
    models = tuple(sorted({r["model"] for r in rows}))
    index = {m: i for i, m in enumerate(models)}
    n = len(rows)
    return LoggedBandit(
        arms=models,
        actions=np.array([index[r["model"]] for r in rows], dtype=np.intp),
        rewards=np.array([float(r["reward"]) for r in rows]),
        costs=np.array([float(r["cost_usd"]) for r in rows]),
        propensities=np.array([float(r["propensity"]) for r in rows]),
        eligible=np.ones((n, len(models)), dtype=bool),
        request_ids=np.array([int(r["request_id"]) for r in rows], dtype=np.intp),
    )


def with_contexts(data: LoggedBandit, arms: tuple[str, ...], X: np.ndarray,
                  arm_costs: np.ndarray) -> LoggedBandit:
    """Attach the contexts and per-arm prices of the data set a simulation replayed.

    ``X`` and ``arm_costs`` have one row per request of the data set, in its file order,
    with the columns of ``arms``; the log's ``request_id`` indexes those rows.
    """
    if data.request_ids is None:
        raise LogError("the log has no request ids to look the contexts up by")
    unknown = sorted(set(data.arms) - set(arms))
    if unknown:
        raise LogError(f"the log names model(s) the data set lacks: {', '.join(unknown)}")
    ids = data.request_ids
    if ids.min() < 0 or ids.max() >= len(X):
        raise LogError(f"request ids run to {int(ids.max())} but the data set has {len(X)} rows")
    remap = np.array([arms.index(a) for a in data.arms], dtype=np.intp)
    return replace(data, arms=tuple(arms), actions=remap[data.actions],
                   eligible=np.ones((data.n, len(arms)), dtype=bool), X=X[ids],
                   arm_costs=arm_costs[ids])
