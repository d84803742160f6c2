"""Logged decisions with their outcomes, as off-policy evaluation reads them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, Iterator, Sequence

from sqlalchemy import Engine, Row, func, select
from sqlalchemy.orm import Session

from bandit_router.store.schema import DecisionRow, FeedbackRow, PosteriorRow, UsageRow


# What off-policy evaluation reads of a decision, its feedback and the proxy's usage.
OPE_COLUMNS = (
    DecisionRow.id, DecisionRow.created_at, DecisionRow.model_id, DecisionRow.propensity,
    DecisionRow.policy, DecisionRow.policy_version, DecisionRow.cost_weight,
    DecisionRow.features, DecisionRow.candidates, DecisionRow.scores,
    DecisionRow.estimated_cost_usd, FeedbackRow.id.is_not(None).label("has_feedback"),
    FeedbackRow.reward, FeedbackRow.error, FeedbackRow.cost_usd.label("feedback_cost_usd"),
    UsageRow.cost_usd.label("usage_cost_usd"),
)
# And what an archive keeps besides (``bandit-router export``).
ARCHIVE_COLUMNS = OPE_COLUMNS + (
    DecisionRow.tenant_id, DecisionRow.input_tokens_est, DecisionRow.output_tokens_est,
    DecisionRow.request_metadata.label("metadata"), DecisionRow.budget_period_start,
    FeedbackRow.id.label("feedback_id"), FeedbackRow.received_at, FeedbackRow.origin,
    FeedbackRow.input_tokens.label("feedback_input_tokens"),
    FeedbackRow.output_tokens.label("feedback_output_tokens"),
    FeedbackRow.latency_ms.label("feedback_latency_ms"), FeedbackRow.charged_usd,
    UsageRow.model_id.label("usage_model_id"), UsageRow.status.label("usage_status"),
    UsageRow.input_tokens.label("usage_input_tokens"),
    UsageRow.output_tokens.label("usage_output_tokens"),
    UsageRow.latency_ms.label("usage_latency_ms"), UsageRow.error.label("usage_error"),
)


def _logged(columns, since, until, tenant_id):
    return _selected(select(*columns)
                     .outerjoin(FeedbackRow, FeedbackRow.decision_id == DecisionRow.id)
                     .outerjoin(UsageRow, UsageRow.decision_id == DecisionRow.id),
                     since, until, tenant_id)


def _selected(q, since, until, tenant_id):
    """``q`` restricted to decisions made in ``[since, until)`` (of one tenant)."""
    if since is not None:
        q = q.where(DecisionRow.created_at >= since)
    if until is not None:
        q = q.where(DecisionRow.created_at < until)
    if tenant_id is not None:
        q = q.where(DecisionRow.tenant_id == tenant_id)
    return q


def count_decisions(session: Session, *, since: datetime | None = None,
                    until: datetime | None = None, tenant_id: str | None = None) -> int:
    return int(session.scalar(_selected(select(func.count()).select_from(DecisionRow),
                                        since, until, tenant_id)))


def archive_chunks(
    engine: Engine, *, since: datetime | None = None, until: datetime | None = None,
    tenant_id: str | None = None, chunk: int = 10_000,
) -> Iterator[Sequence[Row[Any]]]:
    """Decisions in ``[since, until)`` with ``ARCHIVE_COLUMNS``, oldest first, ``chunk`` rows
    at a time from a server-side cursor (constant memory)."""
    q = _logged(ARCHIVE_COLUMNS, since, until, tenant_id).order_by(
        DecisionRow.created_at, DecisionRow.id)
    with engine.connect() as conn:
        result = conn.execution_options(yield_per=chunk).execute(q)
        yield from result.partitions(chunk)


def posterior_payloads(session: Session, versions: Iterable[int]) -> Iterator[Row[Any]]:
    """``(version, created_at, feature_dim, payload)`` of these stored versions."""
    for v in sorted(set(versions)):
        row = session.get(PosteriorRow, v)
        if row is not None:
            yield row


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
    q = _logged(OPE_COLUMNS, since, until, tenant_id)
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

