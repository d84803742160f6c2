"""Logged decisions (with the features needed to learn from them) and their feedback."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from bandit_router.store.errors import NotFound
from bandit_router.store.schema import DecisionRow, FeedbackRow

FEEDBACK_FIELDS = ("reward", "input_tokens", "output_tokens", "cost_usd", "latency_ms", "error")


def record_decision(session: Session, row: DecisionRow) -> None:
    session.add(row)


def get_decision(session: Session, decision_id: str, tenant_id: str | None = None) -> DecisionRow:
    row = session.get(DecisionRow, decision_id)
    if row is None or (tenant_id is not None and row.tenant_id != tenant_id):
        raise NotFound(f"decision {decision_id!r} does not exist")
    return row


def first_decision_in(session: Session, lowest: str, highest: str) -> tuple[str, str | None] | None:
    """The decision with the smallest id in ``[lowest, highest]`` and its tenant, or None
    (a range scan of the primary key: one index lookup)."""
    row = session.execute(select(DecisionRow.id, DecisionRow.tenant_id)
                          .where(DecisionRow.id >= lowest, DecisionRow.id <= highest)
                          .order_by(DecisionRow.id).limit(1)).first()
    return None if row is None else (row[0], row[1])


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
