"""Logged decisions (with the features needed to learn from them) and their feedback."""

from __future__ import annotations

import json
import math
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from dataclasses import dataclass
from typing import Iterator

from psycopg.errors import LockNotAvailable, QueryCanceled
from pydantic_core import to_json
from sqlalchemy import Connection, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bandit_router.store.db import milliseconds, set_local_timeouts
from bandit_router.store.decision_ids import decision_time
from bandit_router.store.errors import NotFound, TimedOut
from bandit_router.store.locks import shared_xact_lock_condition
from bandit_router.store.schema import (DecisionRow, FeedbackRow, RetentionRow, TenantRow,
                                       UsageRow)

FEEDBACK_FIELDS = ("reward", "input_tokens", "output_tokens", "cost_usd", "latency_ms", "error")


class JsonText(str):
    """A JSON column's value already serialised (e.g. a decision's per-model scores, which
    its answer carries too): stored as this text, not serialised again."""


_COLUMNS = [c.name for c in DecisionRow.__table__.columns]
_JSON_COLUMNS = {c.name for c in DecisionRow.__table__.columns
                 if c.type.__class__.__name__ == "JSON"}
_IS_JSON = [c in _JSON_COLUMNS for c in _COLUMNS]
# The same statement SQLAlchemy would build, written once: the decision log is the hottest
# write, and psycopg's pipelined executemany without the ORM costs a fraction per row.
_PG_INSERT = (
    f"INSERT INTO decisions ({', '.join(_COLUMNS)}) VALUES ("
    + ", ".join("%s::json" if c in _JSON_COLUMNS else "%s" for c in _COLUMNS)
    + ") ON CONFLICT DO NOTHING")  # any unique key: on Postgres (id, created_at), see migration 0006
_SQLITE_INSERT = sqlite_insert(DecisionRow.__table__).on_conflict_do_nothing()


def insert_decisions(conn: Connection, rows: list[dict]) -> None:
    """Insert decision rows (keys: ``decisions`` column names) in ``conn``'s transaction,
    skipping ids already stored (so a batch whose commit was lost can be written again): the
    one write of the decision log, batched or not. The caller commits."""
    if conn.dialect.name != "postgresql":  # SQLAlchemy's JSON type serialises the values
        conn.execute(_SQLITE_INSERT, [{c: json.loads(v) if type(v) is JsonText else v
                                       for c, v in r.items()} for r in rows])
        return
    # As SQLAlchemy's JSON type does (none_as_null=False), None is stored as JSON null.
    # pydantic's serialiser, not json.dumps: the same JSON values at a quarter of the CPU on
    # the per-model scores (83 → 21 µs a row on a loaded machine), the largest per-row cost
    # of the decision log. (Where json.dumps wrote NaN or Infinity, which Postgres's json
    # type refuses, so that the row was lost, it writes null.) A JsonText is that already.
    conn.exec_driver_sql(_PG_INSERT, [tuple([_json_text(v) if j else v for v, j in zip(
        [r[c] for c in _COLUMNS], _IS_JSON)]) for r in rows])


def _json_text(value) -> str:
    return value if type(value) is JsonText else to_json(value).decode()


# The feedback columns a batch inserts, with their Postgres types: one statement for any
# batch size (columns as arrays, ``unnest``), prepared once per connection, instead of a
# multi-row VALUES that SQLAlchemy compiles again for every batch (most of the group commit's
# CPU, see "Where the time went" in benchmarks/README.md).
_FEEDBACK_TYPES = {"decision_id": "text", "decision_created_at": "timestamptz",
                   "model_id": "text", "received_at": "timestamptz", "charged_usd": "float8",
                   "origin": "text", "reward": "float8", "input_tokens": "int4",
                   "output_tokens": "int4", "cost_usd": "float8", "latency_ms": "float8",
                   "error": "text"}
_PG_FEEDBACK_INSERT = (
    f"INSERT INTO feedback ({', '.join(_FEEDBACK_TYPES)}) SELECT * FROM unnest("
    + ", ".join(f"%s::{t}[]" for t in _FEEDBACK_TYPES.values())
    + ") ON CONFLICT DO NOTHING RETURNING id, decision_id")  # one feedback per decision


def insert_feedback(session: Session, rows: list[dict]) -> dict[str, int]:
    """Insert feedback rows (keys: the columns of ``_FEEDBACK_TYPES``) in ``session``'s
    transaction, skipping decisions that already have feedback (any unique key); returns the
    new rows' ids by decision id. The caller commits."""
    if session.get_bind().dialect.name != "postgresql":
        ins = sqlite_insert(FeedbackRow.__table__).values(rows).on_conflict_do_nothing()
        table = FeedbackRow.__table__
        return {d: int(fid) for fid, d in session.execute(
            ins.returning(table.c.id, table.c.decision_id))}
    columns = tuple([r[c] for r in rows] for c in _FEEDBACK_TYPES)
    return {d: int(fid) for fid, d in
            session.connection().exec_driver_sql(_PG_FEEDBACK_INSERT, columns)}


# What settling feedback needs of its decisions (not their features, candidates or scores),
# what the proxy measured for each (``usage`` is keyed by decision id: at most one row), and
# of its tenant the feedback window (store.missing.closed_windows) and whether its reported
# costs are trusted (store.writer's charging), all in one query.
_SETTLE_COLUMNS = ("id", "tenant_id", "created_at", "model_id", "input_tokens_est",
                   "output_tokens_est", "estimated_cost_usd", "budget_period_start")
_PG_SETTLE = (
    f"SELECT {', '.join('d.' + c for c in _SETTLE_COLUMNS)}, u.cost_usd AS usage_cost_usd, "
    "t.feedback_window_s AS feedback_window_s, t.late_feedback AS late_feedback, "
    "t.trust_reported_cost AS trust_reported_cost "
    "FROM decisions d LEFT JOIN usage u ON u.decision_id = d.id "
    "LEFT JOIN tenants t ON t.id = d.tenant_id WHERE d.id = ANY(%s)")
_PG_SETTLE_BETWEEN = _PG_SETTLE + " AND d.created_at >= %s AND d.created_at < %s"


def decisions_to_settle(conn: Connection, decision_ids: list[str],
                        shared_lock: int | None = None) -> list:
    """The rows (attributes: ``_SETTLE_COLUMNS``, ``usage_cost_usd`` and the tenant's
    ``feedback_window_s``, ``late_feedback`` and ``trust_reported_cost``) of those of these
    decisions that exist, in one query. On Postgres one statement text for any number of
    ids (an array), which psycopg prepares once per connection, instead of an ``IN`` list
    that SQLAlchemy builds and compiles for every batch of feedback; with ``shared_lock``
    the same query also takes that advisory lock shared until the transaction ends, before
    it reads a row (``locks.shared_xact_lock_condition``; SQLite: one process owns the
    database, no lock)."""
    if conn.dialect.name != "postgresql":
        usage, tenants = UsageRow.__table__, TenantRow.__table__
        return conn.execute(
            select(*(getattr(DecisionRow, c) for c in _SETTLE_COLUMNS),
                   usage.c.cost_usd.label("usage_cost_usd"), tenants.c.feedback_window_s,
                   tenants.c.late_feedback, tenants.c.trust_reported_cost)
            .outerjoin(usage, usage.c.decision_id == DecisionRow.id)
            .outerjoin(tenants, tenants.c.id == DecisionRow.tenant_id)
            .where(DecisionRow.id.in_(decision_ids),
                   *made_between(DecisionRow.created_at, decision_ids))).all()
    bounds = _made_within(decision_ids)
    sql = _PG_SETTLE if bounds is None else _PG_SETTLE_BETWEEN
    if shared_lock is not None:
        sql = f"{sql} AND {shared_xact_lock_condition(shared_lock)}"
    return conn.exec_driver_sql(sql, (list(decision_ids), *(bounds or ()))).all()


class Expired(NotFound):
    """The decision was made before the retention window and has been removed (HTTP 404)."""


def get_decision(session: Session, decision_id: str, tenant_id: str | None = None) -> DecisionRow:
    row = session.get(DecisionRow, decision_id)
    if row is None or (tenant_id is not None and row.tenant_id != tenant_id):
        raise missing_decision(session, decision_id)
    return row


@contextmanager
def within(session: Session, timeout_s: float | None) -> Iterator[None]:
    """The block's queries give up after ``timeout_s`` on Postgres (its statement and lock
    timeouts, for the rest of the session's transaction): :class:`TimedOut`, a locked table
    included. No bound on SQLite (a single process's file) or without ``timeout_s``."""
    limited = timeout_s is not None and session.get_bind().dialect.name == "postgresql"
    try:
        if limited:
            set_local_timeouts(session.connection(), milliseconds(timeout_s))
        yield
    except OperationalError as exc:
        if limited and isinstance(exc.orig, (QueryCanceled, LockNotAvailable)):
            raise TimedOut(f"the database did not answer within {timeout_s:.3g} s") from exc
        raise


def first_decision_in(session: Session, lowest: str, highest: str,
                      timeout_s: float | None = None) -> tuple[str, str | None] | None:
    """The decision with the smallest id in ``[lowest, highest]`` and its tenant, or None
    (a range scan of the primary key: one index lookup), within ``timeout_s`` (:func:`within`)."""
    with within(session, timeout_s):
        row = session.execute(select(DecisionRow.id, DecisionRow.tenant_id)
                              .where(DecisionRow.id >= lowest, DecisionRow.id <= highest)
                              .order_by(DecisionRow.id).limit(1)).first()
    return None if row is None else (row[0], row[1])


def missing_decision(session: Session, decision_id: str) -> NotFound:
    """What to answer for a decision id that is not (or no longer) in the log: the one
    lookup outcome of a missing decision. :class:`Expired` when the id says the decision was
    made before what retention has removed, else :class:`NotFound`."""
    made = decision_time(decision_id)
    state = session.get(RetentionRow, "decisions") if made is not None else None
    if state is not None and made < utc(state.expired_before):
        return Expired(f"decision {decision_id!r} has expired: decisions made before "
                       f"{utc(state.expired_before).isoformat()} were removed by retention "
                       "(BANDIT_ROUTER_RETENTION_DAYS), and feedback for it cannot be stored")
    return NotFound(f"decision {decision_id!r} does not exist")


def made_between(column, decision_ids) -> list:
    """Conditions that keep a lookup of these decisions to the days they were made in (on
    Postgres, the partitions it must read): the ids carry their time, and a decision's
    ``created_at`` is set just after its id (a day of slack either way, e.g. for a clock
    step). Empty when an id carries no time."""
    bounds = _made_within(decision_ids)
    return [] if bounds is None else [column >= bounds[0], column < bounds[1]]


def _made_within(decision_ids) -> tuple[datetime, datetime] | None:
    """``[low, high)`` of :func:`made_between`, or None."""
    times = [decision_time(d) for d in decision_ids]
    if not times or any(t is None for t in times):
        return None
    return min(times) - timedelta(days=1), max(times) + timedelta(days=1)


def utc(ts: datetime) -> datetime:
    """SQLite returns naive datetimes; the service always stores UTC."""
    return ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts


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
