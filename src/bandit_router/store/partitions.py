"""Postgres: ``decisions`` and ``feedback`` as tables partitioned by day.

``decisions`` is partitioned by ``created_at``, ``feedback`` by its decision's
``decision_created_at``: a decision and its feedback live in partitions of the same day and
are dropped together, and "one feedback per decision" is the unique key ``(decision_id,
decision_created_at)`` (a unique key of a partitioned table must hold the partition key).
Primary keys are ``(id, created_at)`` and ``(id, decision_created_at)``. There are no foreign
keys between them: a key referencing a partitioned table would make every partition drop
check the referencing table; the feedback committer reads the decision in the transaction
that stores the feedback instead. A ``_default`` partition catches rows of a day that has no
partition yet (nothing is refused); :func:`maintain` reports it when it holds rows.

Creating and dropping a partition takes an ACCESS EXCLUSIVE lock on the parent for a moment:
:func:`maintain` sets a lock timeout, so it never makes traffic wait longer than that, and
retries at its next run.
"""

from __future__ import annotations

import logging
import re
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import Connection, text

from bandit_router.store.locks import MAINTENANCE_LOCK, try_xact_lock

log = logging.getLogger(__name__)

KEYS = {"decisions": "created_at", "feedback": "decision_created_at"}
_NAME = re.compile(r"^(decisions|feedback)_p(\d{8})$")


def partition_name(table: str, day: date) -> str:
    return f"{table}_p{day:%Y%m%d}"


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=timezone.utc)


def is_partitioned(conn: Connection) -> bool:
    if conn.dialect.name != "postgresql":
        return False
    return conn.scalar(text("SELECT relkind FROM pg_class WHERE relname = 'decisions' "
                            "AND relnamespace = current_schema()::regnamespace")) == "p"


def create_partition(conn: Connection, table: str, day: date) -> bool:
    """Create ``table``'s partition of ``day`` (UTC) unless it exists; True if created."""
    name = partition_name(table, day)
    if conn.scalar(text("SELECT to_regclass(:n)"), {"n": name}) is not None:
        return False
    lo, hi = day_start(day), day_start(day + timedelta(days=1))
    conn.execute(text(f'CREATE TABLE "{name}" PARTITION OF {table} '
                      f"FOR VALUES FROM ('{lo.isoformat()}') TO ('{hi.isoformat()}')"))
    return True


def partition_days(conn: Connection, table: str) -> list[date]:
    """The days that have a partition of ``table``, oldest first."""
    names = conn.scalars(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = CAST(:t AS regclass)"), {"t": table}).all()
    days = [datetime.strptime(m.group(2), "%Y%m%d").date()
            for m in map(_NAME.match, names) if m is not None]
    return sorted(days)


def create_ahead(conn: Connection, today: date, ahead_days: int) -> list[str]:
    """Partitions from yesterday to ``today + ahead_days`` for both tables; the names created."""
    made = []
    for offset in range(-1, ahead_days + 1):
        day = today + timedelta(days=offset)
        for table in KEYS:
            if create_partition(conn, table, day):
                made.append(partition_name(table, day))
    return made


def drop_day(conn: Connection, day: date) -> dict[str, int]:
    """Drop both tables' partitions of ``day``; returns the rows each held."""
    counts = {}
    for table in ("feedback", "decisions"):
        name = partition_name(table, day)
        if conn.scalar(text("SELECT to_regclass(:n)"), {"n": name}) is None:
            continue
        counts[table] = _row_count(conn, name)
        conn.execute(text(f'DROP TABLE "{name}"'))
    return counts


def _row_count(conn: Connection, name: str) -> int:
    """Exact up to a million rows; beyond, the planner's estimate (a count would scan it)."""
    estimate = conn.scalar(text("SELECT reltuples FROM pg_class WHERE oid = CAST(:n AS regclass)"),
                           {"n": name})
    if estimate is not None and estimate > 1_000_000:
        return int(estimate)
    return int(conn.scalar(text(f'SELECT count(*) FROM "{name}"')))


def default_rows(conn: Connection) -> int:
    """Rows in the default partitions: days that had no partition when they were written."""
    return sum(int(conn.scalar(text(f"SELECT count(*) FROM {t}_default"))) for t in KEYS)


def try_maintenance_lock(conn: Connection, lock_timeout_ms: int = 2000) -> bool:
    """Within the current transaction: one maintainer at a time, and never a long wait on
    the tables' locks (transaction-scoped, so it also holds through a transaction pooler)."""
    if not try_xact_lock(conn, MAINTENANCE_LOCK):
        return False
    conn.execute(text(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}"))
    return True


# -- the conversion of an unpartitioned database (migration 0006) ------------------------------

def convert(conn: Connection, today: date, ahead_days: int = 7) -> dict[str, int]:
    """Turn the plain ``decisions`` and ``feedback`` tables into partitioned ones, keeping
    every row; returns the rows copied per table.

    Locking: both tables are locked ACCESS EXCLUSIVE for the whole conversion (reads and
    writes wait; the copy is one INSERT … SELECT per table, then the keys and indexes are
    built). It runs inside the migration's transaction: on any error nothing changes.
    """
    conn.execute(text("LOCK TABLE decisions, feedback IN ACCESS EXCLUSIVE MODE"))
    seq = conn.scalar(text("SELECT pg_get_serial_sequence('feedback', 'id')"))
    for table in KEYS:
        conn.execute(text(f"ALTER TABLE {table} RENAME TO {table}_unpartitioned"))
        conn.execute(text(f"CREATE TABLE {table} (LIKE {table}_unpartitioned INCLUDING DEFAULTS) "
                          f"PARTITION BY RANGE ({KEYS[table]})"))
        conn.execute(text(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT"))
    days = conn.scalars(text(
        "SELECT DISTINCT (created_at AT TIME ZONE 'UTC')::date FROM decisions_unpartitioned"
    )).all()
    for day in sorted(set(days)):
        for table in KEYS:
            create_partition(conn, table, day)
    create_ahead(conn, today, ahead_days)
    copied = {}
    for table in KEYS:
        copied[table] = conn.execute(text(
            f"INSERT INTO {table} SELECT * FROM {table}_unpartitioned")).rowcount
    if seq is not None:  # the id sequence now belongs to the new table
        conn.execute(text(f"ALTER SEQUENCE {seq} OWNED BY feedback.id"))
    conn.execute(text("DROP TABLE feedback_unpartitioned"))
    conn.execute(text("DROP TABLE decisions_unpartitioned"))
    for stmt in (
        "ALTER TABLE decisions ADD CONSTRAINT decisions_pkey PRIMARY KEY (id, created_at)",
        "ALTER TABLE feedback ADD CONSTRAINT feedback_pkey PRIMARY KEY (id, decision_created_at)",
        "ALTER TABLE feedback ADD CONSTRAINT uq_feedback_decision "
        "UNIQUE (decision_id, decision_created_at)",
        "CREATE INDEX ix_decisions_tenant_id ON decisions (tenant_id)",
        "CREATE INDEX ix_decisions_created_at ON decisions (created_at)",
        "CREATE INDEX ix_decisions_tenant_created ON decisions (tenant_id, created_at)",
        "CREATE INDEX ix_feedback_received_at ON feedback (received_at)",
    ):
        conn.execute(text(stmt))
    return copied
