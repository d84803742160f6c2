"""Missing feedback: a tenant's feedback window and default reward (Personalizer's "reward
wait time" and "default reward").

When a decision's window closes without feedback, :func:`record_defaults` records the
tenant's default reward once, as feedback with ``origin = "default"`` (charged the decision's
estimated cost, so budgets settle as they would have). The one-feedback-per-decision unique
key makes this exactly once, also when several processes run the job at the same moment.
Feedback that arrives after the window is refused (:class:`WindowClosed`, HTTP 409), unless
the tenant's ``late_feedback`` is ``"replace"``: then it replaces the default, once (it is
stored as a new row with ``origin = "late"``, so the refit learns the real reward; the
default's contribution already in the posterior stays there, discounted with age).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Iterable

from sqlalchemy import and_, delete, exists, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bandit_router.store.decisions import utc
from bandit_router.store.errors import Conflict, NotFound
from bandit_router.store.locks import FEEDBACK_LOCK, shared_xact_lock
from bandit_router.store.schema import DecisionRow, FeedbackRow, TenantRow

LATE_POLICIES = ("reject", "replace")
# Decisions committed late (a writer that buffered through an outage) still get their
# default: each run looks this far back before the previous run's watermark.
DEFAULTS_OVERLAP = timedelta(hours=1)


class WindowClosed(Conflict):
    """Feedback after the decision's feedback window (the default reward stands)."""


def set_feedback_window(session: Session, tenant_id: str, window_s: float | None,
                        default_reward: float | None, late_feedback: str | None) -> TenantRow:
    """Set (or with ``window_s=None`` clear) a tenant's feedback window and default reward.

    Decisions made from ``window_s`` before now on are covered; older ones are not given a
    default retroactively."""
    if window_s is not None and (default_reward is None or window_s <= 0):
        raise ValueError("a feedback window needs window_s > 0 and a default_reward")
    if late_feedback is not None and late_feedback not in LATE_POLICIES:
        raise ValueError(f"late_feedback must be one of {', '.join(LATE_POLICIES)}")
    row = session.get(TenantRow, tenant_id)
    if row is None:
        raise NotFound(f"tenant {tenant_id!r} does not exist")
    now = datetime.now(timezone.utc)
    if window_s is not None and (row.feedback_window_s is None or row.defaults_through is None):
        row.defaults_through = now - timedelta(seconds=window_s)
    row.feedback_window_s = window_s
    row.default_reward = default_reward if window_s is not None else None
    row.late_feedback = (late_feedback or "reject") if window_s is not None else None
    row.updated_at = now
    return row


def closed_windows(decisions: Iterable, now: datetime) -> dict[str, str]:
    """Of ``decisions`` (rows with ``id, tenant_id, created_at`` and their tenant's
    ``feedback_window_s, late_feedback``, as :func:`~bandit_router.store.decisions.
    decisions_to_settle` reads them), those whose window closed before ``now``: decision id ->
    the tenant's late-feedback policy."""
    return {d.id: d.late_feedback or "reject" for d in decisions
            if d.tenant_id is not None and d.feedback_window_s is not None
            and now - utc(d.created_at) > timedelta(seconds=d.feedback_window_s)}


def window_closed(decision_id: str) -> WindowClosed:
    return WindowClosed(
        f"the feedback window of decision {decision_id!r} has closed: its tenant's default "
        "reward stands and this feedback was not stored (the tenant does not accept late "
        "feedback; an operator can allow it with late_feedback=replace)")


def drop_defaults(session: Session, decision_ids: list[str]) -> None:
    """Remove the default feedback of these decisions (late feedback replaces it)."""
    session.execute(delete(FeedbackRow).where(FeedbackRow.decision_id.in_(decision_ids),
                                              FeedbackRow.origin == "default")
                    .execution_options(synchronize_session=False))


def record_defaults(session: Session, now: datetime | None = None,
                    batch: int = 10_000) -> dict[str, int]:
    """Record the default reward of every decision whose window closed without feedback.

    Returns how many defaults it recorded per tenant. Each tenant's pass commits on its own;
    a decision gets its default exactly once (``ON CONFLICT DO NOTHING`` on the
    one-feedback-per-decision key), however many processes run this at once.
    """
    now = now or datetime.now(timezone.utc)
    tenants = session.execute(
        select(TenantRow.id, TenantRow.feedback_window_s, TenantRow.default_reward,
               TenantRow.defaults_through)
        .where(TenantRow.feedback_window_s.is_not(None), TenantRow.default_reward.is_not(None))
        .order_by(TenantRow.id)).all()
    session.commit()
    counts: dict[str, int] = {}
    for tenant_id, window_s, reward, through in tenants:
        hi = now - timedelta(seconds=window_s)
        lo = utc(through) - DEFAULTS_OVERLAP if through is not None else None
        n = 0
        while True:
            done = _record_batch(session, tenant_id, reward, lo, hi, now, batch)
            n += done
            session.commit()
            if done == 0:  # nothing left (or another process recorded this batch)
                break
        session.execute(update(TenantRow).where(TenantRow.id == tenant_id)
                        .values(defaults_through=hi))
        session.commit()
        if n:
            counts[tenant_id] = n
    return counts


def _record_batch(session: Session, tenant_id: str, reward: float, lo: datetime | None,
                  hi: datetime, now: datetime, batch: int) -> int:
    cond = [DecisionRow.tenant_id == tenant_id, DecisionRow.created_at < hi,
            ~exists().where(FeedbackRow.decision_id == DecisionRow.id)]
    if lo is not None:
        cond.append(DecisionRow.created_at >= lo)
    pick = (select(DecisionRow.id, DecisionRow.created_at, DecisionRow.model_id,
                   literal(now).label("received_at"),
                   literal(reward).label("reward"), DecisionRow.estimated_cost_usd,
                   literal("default").label("origin"))
            .where(and_(*cond)).order_by(DecisionRow.created_at).limit(batch))
    shared_xact_lock(session, FEEDBACK_LOCK)  # the refit's high-water mark (locks.py)
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(FeedbackRow).from_select(
        ["decision_id", "decision_created_at", "model_id", "received_at", "reward", "charged_usd",
         "origin"],
        pick).on_conflict_do_nothing()  # any unique key: one feedback per decision
    return len(session.execute(stmt.returning(FeedbackRow.decision_id)).all())
