"""Per-tenant budget pacing, run by every process's sync job.

Reads the tenant's position in its budget period, replays its recent requests through the
current posterior means, and returns the cost weight λ that keeps spend on the budget line
(see :mod:`bandit_router.policy.pacing`). It edits nothing of the caller's: the sync job puts
the λs into the next runtime snapshot.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Iterable, Mapping, NamedTuple

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from bandit_router.routing.catalog import ModelSpec
from bandit_router.policy import Posterior
from bandit_router.policy.pacing import PacingState, calibrate_cost_weight, period_bounds
from bandit_router.store.codec import decode_features
from bandit_router.store.schema import DecisionRow
from bandit_router.store import spend
from bandit_router.store.spend import counter
from bandit_router.routing.tenancy import TenantState

# Aim a little under the line: exploration makes real choices costlier than greedy replays.
PACING_MARGIN = 0.97
RECENT_REQUESTS = 200


def paced_cost_weight(
    session: Session, tenant_id: str, period: str, limit_usd: float, now: datetime,
    posterior: Posterior, models: Mapping[str, ModelSpec], default: float,
) -> tuple[float, float]:
    """(λ, committed spend) for the tenant now; ``default`` λ when there is nothing to replay."""
    start, end = period_bounds(period, now)
    committed, n = counter(session, tenant_id, start)
    prev_start, prev_end = period_bounds(period, start - timedelta(seconds=1))
    _, n_prev = counter(session, tenant_id, prev_start)
    fallback_rate = n_prev / (prev_end - prev_start).total_seconds() if n_prev else None
    state = PacingState(limit_usd, committed, n, (now - start).total_seconds(),
                        (end - start).total_seconds())
    target = PACING_MARGIN * state.allowance(fallback_rate, min_elapsed_s=60.0)

    rows = session.execute(
        select(DecisionRow.features, DecisionRow.candidates, DecisionRow.input_tokens_est,
               DecisionRow.output_tokens_est)
        .where(DecisionRow.tenant_id == tenant_id)
        .order_by(DecisionRow.created_at.desc())
        .limit(RECENT_REQUESTS)
    ).all()
    ids = sorted(models)
    if not rows or not ids:
        return default, committed
    X = np.array([decode_features(r.features) for r in rows])
    if X.shape[1] != posterior.dim:
        return default, committed
    mean = X @ posterior.view(ids).theta.T
    specs = [models[i] for i in ids]
    n_in = np.array([r.input_tokens_est for r in rows], dtype=float)[:, None]
    n_out = np.array([r.output_tokens_est for r in rows], dtype=float)[:, None]
    price_in = np.array([s.input_price_per_mtok for s in specs])[None, :]
    price_out = np.array([s.output_price_per_mtok for s in specs])[None, :]
    cost = (n_in * price_in + n_out * price_out) / 1e6
    window = np.array([s.context_window for s in specs])[None, :]
    eligible = (window >= n_in + n_out) & np.array(
        [[i in set(r.candidates) for i in ids] for r in rows])
    eligible[~eligible.any(axis=1)] = True
    return calibrate_cost_weight(mean, cost, target, eligible), committed


class Paced(NamedTuple):
    cost_weight: float  # λ that keeps the tenant's spend on its budget line
    committed_usd: float  # its spend and reservations in the current period, as read
    period_start: datetime  # of that period


def pace_tenants(session: Session, tenants: Iterable[TenantState], *, reconcile: bool,
                 posterior: Posterior, models: Mapping[str, ModelSpec],
                 default_cost_weight: float) -> dict[str, Paced]:
    """Each budgeted tenant's paced λ and committed spend, by tenant id; with ``reconcile``,
    first re-derive its budget counter from the ledger (each in its own short transaction)."""
    now = datetime.now(timezone.utc)
    paced = {}
    for t in tenants:
        if t.budget is None:
            continue
        if reconcile:
            start, end = period_bounds(t.budget.period, now)
            with session.begin():
                spend.reconcile(session, t.id, start, end)
        paced[t.id] = Paced(*paced_cost_weight(
            session, t.id, t.budget.period, t.budget.limit_usd, now, posterior, models,
            default_cost_weight), period_bounds(t.budget.period, now)[0])
        session.rollback()
    return paced
