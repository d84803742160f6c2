"""Cross-process locks: Postgres advisory locks; on SQLite one process owns the database.

``FEEDBACK_LOCK`` orders writers against the refit's high-water mark: every feedback insert
holds it shared until commit, and the refit takes it exclusively for the instant it reads
``max(feedback.id)``. So every id at or below the mark belongs to a committed row, and a
refit that resumes from the mark never skips a row whose transaction was still open.
"""

from __future__ import annotations

import threading

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

# Every advisory lock number of bandit-router, here and nowhere else ("br" = 0x6272).
MIGRATION_LOCK = 0x6272_0000  # one migrator at a time across replicas
FEEDBACK_LOCK = 0x6272_0001
REFIT_LOCK = 0x6272_0002
# Start-up: workers on a new database register the models file and the operator key one at
# a time (two inserting the same row would fail one worker's start-up, and with it uvicorn).
MODELS_LOCK = 0x6272_0003
OPERATOR_KEY_LOCK = 0x6272_0004

_local_locks: dict[int, threading.Lock] = {REFIT_LOCK: threading.Lock()}


def _is_postgres(db: Session | Connection) -> bool:
    bind = db.get_bind() if isinstance(db, Session) else db
    return bind.dialect.name == "postgresql"


def shared_xact_lock(session: Session | Connection, key: int) -> None:
    if _is_postgres(session):
        session.execute(text("SELECT pg_advisory_xact_lock_shared(:k)"), {"k": key})


def exclusive_xact_lock(session: Session | Connection, key: int) -> None:
    """Hold ``key`` exclusively until the transaction ends (no-op on SQLite)."""
    if _is_postgres(session):
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def try_session_lock(session: Session, key: int) -> bool:
    """Take ``key`` for the life of the session's connection (Postgres) or process (SQLite)."""
    if _is_postgres(session):
        return bool(session.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
    return _local_locks[key].acquire(blocking=False)


def release_session_lock(session: Session, key: int) -> None:
    if _is_postgres(session):
        session.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
    else:
        _local_locks[key].release()
