"""Where logged decisions come from: the service database, or a simulation's per-step log.

From the database, each decision keeps its context, candidate set, per-candidate price and
the posterior version that was live; :func:`from_database` also returns a loader for those
posterior versions. Decisions without feedback cannot be evaluated and are counted in
``LoggedBandit.excluded``.
"""

from __future__ import annotations

import bisect
import csv
from dataclasses import replace
from datetime import datetime
from functools import lru_cache
from typing import Callable
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session

from bandit_router.ope.data import LogError, LoggedBandit
from bandit_router.ope.target import PosteriorSource
from bandit_router.policy import Posterior, Prior
from bandit_router.store.codec import decode_features, feature_dim
from bandit_router.store.logged import logged_decisions, posterior_versions
from bandit_router.store.posteriors import learned_rewards, load_posterior

SIMULATION_LOG_COLUMNS = ("step", "request_id", "model", "propensity", "reward", "cost_usd")


def from_database(
    session: Session, *, prior: Prior,
    since: datetime | None = None, until: datetime | None = None,
    tenant_id: str | None = None, limit: int | None = None,
) -> tuple[LoggedBandit, PosteriorSource]:
    """The logged decisions with feedback, and the posterior of each ``versions`` entry.

    Only feedback with a reward is evaluated, as only it is learned
    (:func:`~bandit_router.store.posteriors.learned_rewards`: an error without a reward means
    no answer came, which says nothing about answer quality). Cost is the reported ``cost_usd``, else the proxy's measured cost,
    else the price estimated when deciding. A decision whose posterior version is not
    stored uses the newest version stored before the decision, or the prior (version 0)
    when there is none. The posterior loader reads through ``session``: keep it open.
    """
    rows = logged_decisions(session, since=since, until=until, tenant_id=tenant_id, limit=limit)
    return from_rows(rows, posterior_versions(session),
                     lambda version: load_posterior(session, version).payload, prior=prior)


def from_rows(rows, stored_versions, payload: Callable[[int], bytes], *,
              prior: Prior) -> tuple[LoggedBandit, PosteriorSource]:
    """:func:`from_database` on rows already read (from the database or an archive):
    ``rows`` as ``store.logged.logged_decisions`` gives them, ``stored_versions`` as
    ``posterior_versions``, ``payload(version)`` the stored posterior's bytes."""
    excluded = {"without feedback": 0, "with an error and no reward (no answer to judge)": 0,
                "logged with another feature size": 0}
    kept = []
    learned = learned_rewards([r.reward for r in rows])
    for r, reward in zip(rows, learned):
        if not r.has_feedback:
            excluded["without feedback"] += 1
        elif np.isnan(reward):
            excluded["with an error and no reward (no answer to judge)"] += 1
        else:
            kept.append(r)
    if not kept:
        raise LogError(f"none of the {len(rows)} selected decisions has feedback to evaluate")
    dims = np.array([feature_dim(r.features) for r in kept])
    values, counts = np.unique(dims, return_counts=True)
    dim = int(values[np.argmax(counts)])
    excluded["logged with another feature size"] = int(np.sum(dims != dim))
    kept = [r for r, d in zip(kept, dims) if d == dim]

    arms = tuple(sorted({m for r in kept for m in r.candidates}))
    col = {m: j for j, m in enumerate(arms)}
    n, k = len(kept), len(arms)
    eligible = np.zeros((n, k), dtype=bool)
    arm_costs = np.zeros((n, k))
    for i, r in enumerate(kept):
        for m in r.candidates:
            info = (r.scores or {}).get(m, {})
            eligible[i, col[m]] = bool(info.get("eligible", True))
            arm_costs[i, col[m]] = float(info.get("estimated_cost_usd", 0.0))
    reward = learned_rewards([r.reward for r in kept])
    cost = np.array([_first_known(r.feedback_cost_usd, r.usage_cost_usd, r.estimated_cost_usd)
                     for r in kept])

    stored = [v for v in stored_versions if v.feature_dim == dim]
    data = LoggedBandit(
        arms=arms, actions=np.array([col[r.model_id] for r in kept], dtype=np.intp),
        rewards=reward, costs=cost, propensities=np.array([r.propensity for r in kept], float),
        eligible=eligible, X=np.array([decode_features(r.features) for r in kept]).reshape(n, dim),
        arm_costs=arm_costs, versions=resolve_versions(kept, stored),
        logged_cost_weight=np.array([r.cost_weight for r in kept], float),
        excluded={key: v for key, v in excluded.items() if v},
    )

    @lru_cache(maxsize=4)
    def posterior(version: int) -> Posterior:
        if version == 0:
            return Posterior.from_prior([], dim, prior)
        return Posterior.from_bytes(payload(version))

    return data, posterior


def _first_known(*values: float | None) -> float:
    return float(next((v for v in values if v is not None), 0.0))


def resolve_versions(rows, stored) -> np.ndarray:
    """Each decision's live version if stored, else the newest stored before it, else 0."""
    known = {int(v.version) for v in stored}
    times = [v.created_at for v in stored]
    out = np.zeros(len(rows), dtype=np.int64)
    for i, r in enumerate(rows):
        if r.policy_version in known:
            out[i] = r.policy_version
        else:
            j = bisect.bisect_right(times, r.created_at)
            out[i] = int(stored[j - 1].version) if j else 0
    return out


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
        logged_cost_weight=(np.array([float(r["cost_weight"]) for r in rows]) if keyed
                            else None),
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
