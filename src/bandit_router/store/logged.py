"""Logged decisions with their outcomes, as off-policy evaluation reads them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Sequence

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from bandit_router.store.schema import DecisionRow, FeedbackRow, PosteriorRow, UsageRow


def logged_decisions(
    session: Session, *, since: datetime | None = None, until: datetime | None = None,
    tenant_id: str | None = None, limit: int | None = None,
) -> Sequence[Row[Any]]:
    """Decisions made in ``[since, until)`` (of one tenant), oldest first, with their outcomes.

    Each row has the decision's ``id, created_at, model_id, propensity, policy,
    policy_version, cost_weight, features, candidates, scores, estimated_cost_usd``, the
    feedback's ``has_feedback, reward, error, feedback_cost_usd`` (None without feedback)
    and the proxy's measured ``usage_cost_usd``. ``limit`` keeps the newest decisions.
    """
    q = (
        select(DecisionRow.id, DecisionRow.created_at, DecisionRow.model_id,
               DecisionRow.propensity, DecisionRow.policy, DecisionRow.policy_version,
               DecisionRow.cost_weight, DecisionRow.features, DecisionRow.candidates,
               DecisionRow.scores, DecisionRow.estimated_cost_usd,
               FeedbackRow.id.is_not(None).label("has_feedback"), FeedbackRow.reward,
               FeedbackRow.error, FeedbackRow.cost_usd.label("feedback_cost_usd"),
               UsageRow.cost_usd.label("usage_cost_usd"))
        .outerjoin(FeedbackRow, FeedbackRow.decision_id == DecisionRow.id)
        .outerjoin(UsageRow, UsageRow.decision_id == DecisionRow.id)
    )
    if since is not None:
        q = q.where(DecisionRow.created_at >= since)
    if until is not None:
        q = q.where(DecisionRow.created_at < until)
    if tenant_id is not None:
        q = q.where(DecisionRow.tenant_id == tenant_id)
    q = q.order_by(DecisionRow.created_at.desc(), DecisionRow.id.desc())
    if limit is not None:
        q = q.limit(limit)
    rows = session.execute(q).all()
    rows.reverse()
    return rows


def posterior_versions(session: Session) -> Sequence[Row[Any]]:
    """``(version, created_at, feature_dim)`` of every stored posterior, oldest first."""
    return session.execute(
        select(PosteriorRow.version, PosteriorRow.created_at, PosteriorRow.feature_dim)
        .order_by(PosteriorRow.version)
    ).all()

