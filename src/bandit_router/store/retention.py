"""Retention: remove decisions (and their feedback) made before a cutoff.

On Postgres whole daily partitions are dropped (:mod:`store.partitions`); on SQLite rows are
deleted in batches. What is never removed: the budget counters (``tenant_spend``), usage, the
posteriors (whose sufficient statistics carry everything learnt so far), and any decision
whose feedback the refit has not learnt yet (feedback id above the newest posterior's
watermark). The caller (``jobs.lifecycle``) chooses a cutoff that also keeps every decision
within its tenant's feedback window and every current budget period's ledger.

``retention.expired_before`` records what is gone, so that feedback for such a decision is
answered "expired" (see ``decisions.missing_decision``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable

from sqlalchemy import Connection, Engine, delete, func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bandit_router.store import partitions
from bandit_router.store.decisions import utc
from bandit_router.store.schema import DecisionRow, FeedbackRow, PosteriorRow, RetentionRow, TenantRow

log = logging.getLogger(__name__)

ExportFn = Callable[[datetime, datetime], object]  # export decisions made in [lo, hi)


@dataclass
class RetentionResult:
    cutoff: datetime
    dropped: dict[str, int] = field(default_factory=lambda: {"decisions": 0, "feedback": 0})
    days: list[str] = field(default_factory=list)  # Postgres: the days whose partitions went
    kept_unlearnt: int = 0  # rows kept because the refit has not learnt their feedback yet
    skipped: str | None = None  # why nothing was done (another process maintains, a lock)


@dataclass(frozen=True)
class Horizons:
    """What limits retention, as stored: the longest feedback window and the budgets."""
    longest_window_s: float | None
    budget_periods: tuple[str, ...]


def horizons(conn: Connection) -> Horizons:
    window = conn.scalar(select(func.max(TenantRow.feedback_window_s)))
    periods = conn.scalars(select(TenantRow.budget_period).distinct()
                           .where(TenantRow.budget_period.is_not(None))).all()
    return Horizons(window, tuple(sorted(periods)))


def learnt_through(conn: Connection) -> int:
    """The newest posterior's watermark: every feedback id at or below it is in its stats."""
    newest = conn.scalar(select(func.max(PosteriorRow.version)))
    if newest is None:
        return 0
    return int(conn.scalar(select(PosteriorRow.watermark).where(PosteriorRow.version == newest)))


def expired_before(conn: Connection) -> datetime | None:
    ts = conn.scalar(select(RetentionRow.expired_before).where(RetentionRow.name == "decisions"))
    return None if ts is None else utc(ts)


def _mark_expired(conn: Connection, before: datetime) -> None:
    prev = expired_before(conn)
    if prev is not None and prev >= before:
        return
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    now = datetime.now(timezone.utc)
    stmt = insert(RetentionRow).values(name="decisions", expired_before=before, updated_at=now)
    conn.execute(stmt.on_conflict_do_update(index_elements=["name"], set_={
        "expired_before": before, "updated_at": now}))


def apply(engine: Engine, cutoff: datetime, *, export: ExportFn | None = None,
          batch: int = 5_000) -> RetentionResult:
    """Remove what was decided before ``cutoff`` (Postgres: only whole days before it)."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            if partitions.is_partitioned(conn):
                return _drop_partitions(engine, cutoff, export)
    return _delete_batches(engine, cutoff, export, batch)


def _drop_partitions(engine: Engine, cutoff: datetime, export: ExportFn | None
                     ) -> RetentionResult:
    result = RetentionResult(cutoff)
    with engine.connect() as conn:
        days = [d for d in partitions.partition_days(conn, "decisions")
                if partitions.day_start(d + timedelta(days=1)) <= cutoff]
        conn.rollback()
    for day in days:
        lo, hi = partitions.day_start(day), partitions.day_start(day + timedelta(days=1))
        with engine.connect() as conn:
            unlearnt = conn.scalar(text(
                f'SELECT count(*) FROM "{partitions.partition_name("feedback", day)}" '
                "WHERE id > :w"), {"w": learnt_through(conn)})
            conn.rollback()
        if unlearnt:
            result.kept_unlearnt += int(unlearnt)
            log.warning("retention keeps %s: %d feedback rows are not refitted yet", day, unlearnt)
            break  # newer days wait too: what is gone is always a prefix of time
        with engine.begin() as conn:
            # One process drops (and exports) a day; the others skip it.
            if not partitions.try_maintenance_lock(conn):
                result.skipped = "another process is maintaining the partitions"
                break
            if partitions.partition_days(conn, "decisions").count(day) == 0:
                continue  # another process dropped it meanwhile
            if export is not None:
                export(lo, hi)
            counts = partitions.drop_day(conn, day)
            _mark_expired(conn, hi)
        for table, n in counts.items():
            result.dropped[table] += n
        result.days.append(day.isoformat())
    return result


def _delete_batches(engine: Engine, cutoff: datetime, export: ExportFn | None,
                    batch: int) -> RetentionResult:
    result = RetentionResult(cutoff)
    with engine.connect() as conn:
        oldest = conn.scalar(select(func.min(DecisionRow.created_at)))
        conn.rollback()
    if oldest is None or utc(oldest) >= cutoff:
        return result
    if export is not None:
        export(utc(oldest), cutoff)
    while True:
        with engine.begin() as conn:
            watermark = learnt_through(conn)
            ids = conn.scalars(
                select(DecisionRow.id)
                .outerjoin(FeedbackRow, FeedbackRow.decision_id == DecisionRow.id)
                .where(DecisionRow.created_at < cutoff,
                       (FeedbackRow.id.is_(None)) | (FeedbackRow.id <= watermark))
                .limit(batch)).all()
            if not ids:
                break
            result.dropped["feedback"] += conn.execute(
                delete(FeedbackRow).where(FeedbackRow.decision_id.in_(ids))).rowcount
            result.dropped["decisions"] += conn.execute(
                delete(DecisionRow).where(DecisionRow.id.in_(ids))).rowcount
            _mark_expired(conn, cutoff)
    with engine.connect() as conn:
        result.kept_unlearnt = int(conn.scalar(
            select(func.count()).select_from(DecisionRow).where(DecisionRow.created_at < cutoff)))
    return result


def create_ahead(engine: Engine, ahead_days: int, today=None) -> list[str]:
    """Postgres: partitions up to ``ahead_days`` ahead (a no-op elsewhere); names created.
    Warns when the default partitions hold rows (a day had no partition in time)."""
    if engine.dialect.name != "postgresql":
        return []
    with engine.begin() as conn:
        if not partitions.is_partitioned(conn) or not partitions.try_maintenance_lock(conn):
            return []
        made = partitions.create_ahead(conn, today or datetime.now(timezone.utc).date(),
                                       ahead_days)
        stray = partitions.default_rows(conn)
    if stray:
        log.error("%d rows are in the default partitions (their day had no partition when "
                  "they were written); retention never drops them: see docs/operations.md",
                  stray)
    return made
