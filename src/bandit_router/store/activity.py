"""Recent activity for the status page and the metrics gauges (aggregated in numpy)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timezone

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bandit_router.store.schema import DecisionRow, FeedbackRow


@dataclass(frozen=True)
class Activity:
    """One row per decision in the window: arrays aligned by index."""

    at: np.ndarray  # epoch seconds
    model: np.ndarray  # model ids (object)
    tenant: np.ndarray  # tenant ids (object; None for operator calls)
    reward: np.ndarray  # NaN without feedback
    latency_ms: np.ndarray  # NaN when not reported
    cost_usd: np.ndarray  # charged if settled, else the estimate
    has_feedback: np.ndarray  # bool
    failed: np.ndarray  # bool: feedback with an error and no reward (no answer came)

    def since(self, t: float) -> "Activity":
        """The decisions made at epoch second ``t`` or later."""
        keep = self.at >= t
        return Activity(**{f.name: getattr(self, f.name)[keep] for f in fields(self)})


def recent_activity(session: Session, since: datetime, limit: int = 100_000,
                    tenant_id: str | None = None) -> Activity:
    q = (
        select(DecisionRow.created_at, DecisionRow.model_id, DecisionRow.tenant_id,
               FeedbackRow.reward, FeedbackRow.latency_ms,
               func.coalesce(FeedbackRow.charged_usd, DecisionRow.estimated_cost_usd),
               FeedbackRow.id, FeedbackRow.error)
        .outerjoin(FeedbackRow, FeedbackRow.decision_id == DecisionRow.id)
        .where(DecisionRow.created_at >= since)
        .order_by(DecisionRow.created_at.desc())
        .limit(limit)
    )
    if tenant_id is not None:
        q = q.where(DecisionRow.tenant_id == tenant_id)
    rows = session.execute(q).all()

    def epoch(ts: datetime) -> float:
        return (ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)).timestamp()

    nan = float("nan")
    return Activity(
        at=np.array([epoch(r[0]) for r in rows], dtype=float),
        model=np.array([r[1] for r in rows], dtype=object),
        tenant=np.array([r[2] for r in rows], dtype=object),
        reward=np.array([nan if r[3] is None else r[3] for r in rows], dtype=float),
        latency_ms=np.array([nan if r[4] is None else r[4] for r in rows], dtype=float),
        cost_usd=np.array([r[5] for r in rows], dtype=float),
        has_feedback=np.array([r[6] is not None for r in rows], dtype=bool),
        failed=np.array([r[7] is not None and r[3] is None for r in rows], dtype=bool),
    )


def count_decisions(session: Session, since: datetime) -> int:
    """Number of decisions made since ``since``."""
    q = select(func.count()).select_from(DecisionRow).where(DecisionRow.created_at >= since)
    return int(session.execute(q).scalar_one())


def missing_feedback(session: Session, since: datetime, until: datetime) -> dict[str | None, int]:
    """Per tenant: decisions made in ``[since, until)`` without feedback."""
    q = (
        select(DecisionRow.tenant_id, func.count(DecisionRow.id))
        .outerjoin(FeedbackRow, FeedbackRow.decision_id == DecisionRow.id)
        .where(DecisionRow.created_at >= since, DecisionRow.created_at < until,
               FeedbackRow.id.is_(None))
        .group_by(DecisionRow.tenant_id)
    )
    return {t: int(n) for t, n in session.execute(q)}
