"""Budget accounting: atomic reservations against a per-period counter, and the ledger.

The ledger is the truth: a tenant's spend in a period is the sum over its decisions made in
the period of what each was charged (settled at feedback) or, still awaiting feedback, its
estimated cost. ``tenant_spend.committed_usd`` caches that sum so that reserving is a single
conditional ``UPDATE … WHERE committed + cost <= limit``: concurrent requests cannot both
take the last dollars, on Postgres (row lock) or SQLite (one writer).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, and_, case, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bandit_router.store.records import ModelUsage
from bandit_router.store.schema import DecisionRow, FeedbackRow, SpendRow


def _ensure_row(session: Session | Connection, tenant_id: str, period_start: datetime) -> None:
    dialect = session.dialect if isinstance(session, Connection) else session.get_bind().dialect
    insert = pg_insert if dialect.name == "postgresql" else sqlite_insert
    stmt = insert(SpendRow).values(tenant_id=tenant_id, period_start=period_start,
                                   committed_usd=0.0, n_decisions=0)
    session.execute(stmt.on_conflict_do_nothing())


def reserve(session: Session | Connection, tenant_id: str, period_start: datetime,
            cost_usd: float, limit_usd: float | None) -> bool:
    """Add ``cost_usd`` to the period's committed spend if it fits under ``limit_usd``
    (``None``: unconditionally). Returns whether it was reserved. Caller commits."""
    _ensure_row(session, tenant_id, period_start)
    cond = and_(SpendRow.tenant_id == tenant_id, SpendRow.period_start == period_start)
    if limit_usd is not None:
        cond = and_(cond, SpendRow.committed_usd + cost_usd <= limit_usd)
    result = session.execute(
        update(SpendRow).where(cond).values(committed_usd=SpendRow.committed_usd + cost_usd,
                                            n_decisions=SpendRow.n_decisions + 1)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def counter(session: Session | Connection, tenant_id: str,
            period_start: datetime) -> tuple[float, int]:
    row = session.execute(select(SpendRow.committed_usd, SpendRow.n_decisions).where(
        SpendRow.tenant_id == tenant_id, SpendRow.period_start == period_start)).first()
    return (row[0], row[1]) if row is not None else (0.0, 0)


def ledger(session: Session, tenant_id: str, start: datetime, end: datetime) -> list[ModelUsage]:
    """Per model: decisions, feedback, mean reward, settled and pending spend in [start, end)."""
    charged = func.coalesce(FeedbackRow.charged_usd, DecisionRow.estimated_cost_usd)
    has_fb = FeedbackRow.id.is_not(None)
    q = (
        select(
            DecisionRow.model_id,
            func.count(DecisionRow.id),
            func.count(FeedbackRow.id),
            func.avg(FeedbackRow.reward),
            func.coalesce(func.sum(case((has_fb, charged), else_=0.0)), 0.0),
            func.coalesce(func.sum(case((has_fb, 0.0), else_=DecisionRow.estimated_cost_usd)),
                          0.0),
        )
        .outerjoin(FeedbackRow, FeedbackRow.decision_id == DecisionRow.id)
        .where(DecisionRow.tenant_id == tenant_id, DecisionRow.created_at >= start,
               DecisionRow.created_at < end)
        .group_by(DecisionRow.model_id)
        .order_by(DecisionRow.model_id)
    )
    return [ModelUsage(m, int(n), int(nf), None if r is None else float(r), float(s), float(p))
            for m, n, nf, r, s, p in session.execute(q)]


def reconcile(session: Session, tenant_id: str, period_start: datetime, end: datetime) -> float:
    """Reset the counter to the ledger's total (locks the counter row meanwhile)."""
    _ensure_row(session, tenant_id, period_start)
    session.execute(select(SpendRow).where(SpendRow.tenant_id == tenant_id,
                                           SpendRow.period_start == period_start)
                    .with_for_update())
    rows = ledger(session, tenant_id, period_start, end)
    total = sum(r.spent_usd + r.pending_usd for r in rows)
    n = sum(r.decisions for r in rows)
    session.execute(update(SpendRow)
                    .where(SpendRow.tenant_id == tenant_id, SpendRow.period_start == period_start)
                    .values(committed_usd=total, n_decisions=n)
                    .execution_options(synchronize_session=False))
    return total


def settle(session: Session, deltas: list[tuple[str | None, datetime | None, float]]) -> None:
    """Move each ``(tenant, budget period start, charged − estimated)`` into the period's
    committed spend, when feedback sets what a budgeted decision cost (its estimate was
    reserved when it was routed). Decisions without a budget period are skipped. One update
    per period, in one order for all writers (no deadlocks); the caller commits."""
    total: dict[tuple[str, datetime], float] = {}
    for tenant_id, start, delta in deltas:
        if tenant_id is not None and start is not None:
            total[(tenant_id, start)] = total.get((tenant_id, start), 0.0) + delta
    for (tenant_id, start), delta in sorted(total.items()):
        if delta != 0:
            session.execute(update(SpendRow)
                            .where(SpendRow.tenant_id == tenant_id,
                                   SpendRow.period_start == start)
                            .values(committed_usd=SpendRow.committed_usd + delta)
                            .execution_options(synchronize_session=False))
