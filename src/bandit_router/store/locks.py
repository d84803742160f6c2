"""Cross-process locks: Postgres advisory locks; on SQLite one process owns the database.

``FEEDBACK_LOCK`` orders writers against the refit's high-water mark: every feedback insert
holds it shared until commit, and the refit takes it exclusively for the instant it reads
``max(feedback.id)``. So every id at or below the mark belongs to a committed row, and a
refit that resumes from the mark never skips a row whose transaction was still open. (The
feedback group commit takes it in its first statement, :func:`shared_xact_lock_condition`,
before it inserts anything; the default-feedback writer by :func:`shared_xact_lock`.)
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session

# Every advisory lock number of bandit-router, here and nowhere else ("br" = 0x6272).
MIGRATION_LOCK = 0x6272_0000  # one migrator at a time across replicas
FEEDBACK_LOCK = 0x6272_0001
REFIT_LOCK = 0x6272_0002
# Start-up: workers on a new database register the models file and the operator key one at
# a time (two inserting the same row would fail one worker's start-up, and with it uvicorn).
MODELS_LOCK = 0x6272_0003
OPERATOR_KEY_LOCK = 0x6272_0004
# Partition maintenance and retention: one process at a time (store/partitions.py).
MAINTENANCE_LOCK = 0x6272_0005

_local_locks: dict[int, threading.Lock] = {REFIT_LOCK: threading.Lock()}


def _is_postgres(db: Session | Connection) -> bool:
    bind = db.get_bind() if isinstance(db, Session) else db
    return bind.dialect.name == "postgresql"


def shared_xact_lock(session: Session | Connection, key: int) -> None:
    if _is_postgres(session):
        session.execute(text("SELECT pg_advisory_xact_lock_shared(:k)"), {"k": key})


def shared_xact_lock_condition(key: int) -> str:
    """A Postgres SQL condition, always true, that takes ``key`` shared until the transaction
    ends: added to the ``WHERE`` of a statement the transaction makes anyway, it saves the
    lock's own round trip. Postgres plans this uncorrelated subquery as a one-time filter
    (an InitPlan) evaluated once, before the statement reads any row, whatever the rest of
    the statement finds."""
    return f"(SELECT pg_advisory_xact_lock_shared({int(key)})) IS NOT NULL"


def exclusive_xact_lock(session: Session | Connection, key: int) -> None:
    """Hold ``key`` exclusively until the transaction ends (no-op on SQLite)."""
    if _is_postgres(session):
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def try_xact_lock(db: Session | Connection, key: int) -> bool:
    """Take ``key`` until the transaction ends if it is free; whether it was taken (SQLite:
    always, one process owns the database)."""
    if not _is_postgres(db):
        return True
    return bool(db.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": key}).scalar())


@contextmanager
def held_lock(engine: Engine, key: int) -> Iterator[bool]:
    """Try ``key`` for the duration of the block; yields whether it was taken.

    On Postgres the lock is transaction-scoped, taken in a transaction of a connection of its
    own that stays open until the block ends: unlike a session-level lock it survives a
    transaction-pooling proxy (PgBouncer), whose sessions change between transactions, and it
    is released whatever happens (the transaction ends, or the connection dies). On SQLite, a
    process lock (one process owns the database).
    """
    if engine.dialect.name != "postgresql":
        lock = _local_locks[key]
        got = lock.acquire(blocking=False)
        try:
            yield got
        finally:
            if got:
                lock.release()
        return
    with engine.connect() as conn:
        try:
            yield try_xact_lock(conn, key)
        finally:
            conn.rollback()
