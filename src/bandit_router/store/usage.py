"""What the proxy measured per forwarded decision (tokens, cost, latency, every attempt)."""

from __future__ import annotations

from sqlalchemy import insert
from sqlalchemy.orm import Session

from bandit_router.store.decisions import get_decision
from bandit_router.store.errors import NotFound
from bandit_router.store.schema import UsageRow

# "check_failed": a cascade's answer that came whole but failed its check.
STATUSES = ("ok", "error", "incomplete", "cancelled", "check_failed")


def _checked(status: str) -> None:
    if status not in STATUSES:
        raise ValueError(f"usage status must be one of {', '.join(STATUSES)}, not {status!r}")


def record_usage(session: Session, row: UsageRow) -> None:
    """Store one measurement; a decision has at most one (the caller commits)."""
    _checked(row.status)
    session.add(row)


def record_usages(session: Session, rows: list[dict]) -> None:
    """Store many measurements (``usage`` column → value) in one statement, without the
    ORM's per-object work (the caller commits)."""
    for row in rows:
        _checked(row["status"])
    if rows:  # Core's executemany: the ORM's bulk path costs several times more per row
        session.connection().execute(insert(UsageRow.__table__), rows)


def get_usage(session: Session, decision_id: str, tenant_id: str | None = None) -> UsageRow:
    get_decision(session, decision_id, tenant_id)  # NotFound for another tenant's decision
    row = session.get(UsageRow, decision_id)
    if row is None:
        raise NotFound(f"no usage was recorded for decision {decision_id!r}")
    return row
