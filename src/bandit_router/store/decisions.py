"""Logged decisions (with the features needed to learn from them) and their feedback."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bandit_router.store.errors import Conflict, NotFound
from bandit_router.store.locks import FEEDBACK_LOCK, shared_xact_lock
from bandit_router.store.schema import DecisionRow, FeedbackRow

FEEDBACK_FIELDS = ("reward", "input_tokens", "output_tokens", "cost_usd", "latency_ms", "error")


def record_decision(session: Session, row: DecisionRow) -> None:
    session.add(row)


def get_decision(session: Session, decision_id: str, tenant_id: str | None = None) -> DecisionRow:
    row = session.get(DecisionRow, decision_id)
    if row is None or (tenant_id is not None and row.tenant_id != tenant_id):
        raise NotFound(f"decision {decision_id!r} does not exist")
    return row


@dataclass(frozen=True)
class Outcome:
    """What the app reports about a decision. ``None`` means not reported."""

    reward: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    latency_ms: float | None = None
    error: str | None = None

    def same_as(self, row: FeedbackRow) -> bool:
        for f in FEEDBACK_FIELDS:
            a, b = getattr(self, f), getattr(row, f)
            if isinstance(a, float) and isinstance(b, float):
                if not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12):
                    return False
            elif a != b:
                return False
        return True


def record_feedback(
    session: Session, decision_id: str, outcome: Outcome, tenant_id: str | None = None
) -> tuple[FeedbackRow, bool]:
    """Store the outcome of a decision exactly once.

    Returns ``(row, created)``; an identical repeat returns the stored row with
    ``created=False``; a different repeat raises :class:`Conflict`; an unknown decision, or
    one of another tenant, raises :class:`NotFound`. The caller commits.
    """
    get_decision(session, decision_id, tenant_id)
    existing = session.scalar(select(FeedbackRow).where(FeedbackRow.decision_id == decision_id))
    if existing is None:
        shared_xact_lock(session, FEEDBACK_LOCK)
        row = FeedbackRow(decision_id=decision_id, received_at=datetime.now(timezone.utc),
                          **{f: getattr(outcome, f) for f in FEEDBACK_FIELDS})
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
            return row, True
        except IntegrityError:  # a concurrent request stored it first
            existing = session.scalar(
                select(FeedbackRow).where(FeedbackRow.decision_id == decision_id)
            )
            if existing is None:
                raise
    if outcome.same_as(existing):
        return existing, False
    raise Conflict(
        f"feedback for decision {decision_id!r} was already recorded with different values; "
        "feedback is write-once (repeat the identical body to retry safely)"
    )


