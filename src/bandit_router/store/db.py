"""Engines and sessions. SQLite gets WAL, a busy timeout and foreign keys; Postgres a pool."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import psycopg
from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)


def _sqlite_folder(url: str) -> None:
    """Create bandit-router's own data folder, where the default SQLite file lives, when a
    new machine does not have it yet (any other missing folder stays an error: a typo must
    not make directories)."""
    from bandit_router.config import data_dir

    path = make_url(url).database
    if path and path != ":memory:" and Path(path).parent == data_dir():
        data_dir().mkdir(parents=True, exist_ok=True)


def make_engine(url: str, *, pool_size: int = 20, max_overflow: int = 10,
                statement_timeout_s: float | None = None, pooler: str = "none") -> Engine:
    """An engine for ``url``.

    ``statement_timeout_s`` (Postgres): every statement, and every wait for a lock, of this
    engine's connections gives up after this long (an OperationalError).

    ``pooler="transaction"``: Postgres is reached through a transaction-pooling proxy
    (PgBouncer ``pool_mode = transaction``), where consecutive transactions of one connection
    may run on different server sessions, so nothing may outlive a transaction: psycopg's
    automatic prepared statements are switched off (``prepare_threshold=None``) and so are
    the explicit ones (:func:`prepares`); the timeouts are set in each transaction
    (``SET LOCAL``) instead of as start-up options, which PgBouncer refuses. The locks the
    service holds are transaction-scoped or held in one transaction (``store.locks``); it
    uses no LISTEN/NOTIFY and no session settings."""
    if url.startswith("sqlite"):
        _sqlite_folder(url)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # pragma: no cover - exercised by every SQLite run
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    # No pre-ping: it would add a round trip to every checkout. A connection that turns out
    # to be dead raises a disconnect error, which invalidates the whole pool, so after a
    # database restart one operation fails (and is retried by its caller) and the next ones
    # get new connections. The pool is sized for the request thread pool (40 threads):
    # overflow connections are closed after use, and opening one costs milliseconds.
    connect_args: dict = {"connect_timeout": 5}
    timeout_ms = None if statement_timeout_s is None else milliseconds(statement_timeout_s)
    if timeout_ms is not None and pooler != "transaction":
        connect_args["options"] = f"-c statement_timeout={timeout_ms} -c lock_timeout={timeout_ms}"
    if pooler == "transaction":
        connect_args["prepare_threshold"] = None
    engine = create_engine(url, pool_size=pool_size, max_overflow=max_overflow,
                           connect_args=connect_args)

    if timeout_ms is not None and pooler == "transaction":
        @event.listens_for(engine, "begin")
        def _timeouts(conn) -> None:
            set_local_timeouts(conn, timeout_ms)

    @event.listens_for(engine, "handle_error")
    def _explain(context) -> None:
        explain_pooler_error(context.original_exception)

    return engine


_POOLER_ERRORS = (psycopg.errors.InvalidSqlStatementName,  # prepared statement does not exist
                  psycopg.errors.DuplicatePreparedStatement)


def milliseconds(seconds: float) -> int:
    """A Postgres timeout setting for ``seconds``: whole milliseconds, at least 1 (0 would
    mean no timeout)."""
    return max(int(seconds * 1000), 1)


def set_local_timeouts(conn: Connection, timeout_ms: int) -> None:
    """Every statement, and every wait for a lock, of the rest of ``conn``'s transaction
    gives up after ``timeout_ms`` (Postgres)."""
    conn.exec_driver_sql(f"SET LOCAL statement_timeout = {int(timeout_ms)}")
    conn.exec_driver_sql(f"SET LOCAL lock_timeout = {int(timeout_ms)}")


def explain_pooler_error(exc: BaseException) -> None:
    """A prepared statement that vanished or already exists means the connection goes
    through a transaction-pooling proxy while the service thinks it does not: say so, loudly,
    with the setting that fixes it (every such error is logged; the request gets a 503)."""
    if isinstance(exc, _POOLER_ERRORS):
        log.error("the database connection goes through a transaction-pooling proxy (e.g. "
                  "PgBouncer pool_mode=transaction): prepared statements do not survive it (%s). "
                  "Set BANDIT_ROUTER_DATABASE_POOLER=transaction, or use session pooling",
                  str(exc).splitlines()[0])


def engine_for(settings, **options) -> Engine:
    """The engine :class:`~bandit_router.config.Settings` describe (URL and pooler);
    ``options`` as :func:`make_engine` takes them."""
    return make_engine(settings.database_url.get_secret_value(), pooler=settings.database_pooler,
                       **options)


def prepares(raw: psycopg.Connection) -> bool:
    """Whether a statement may be prepared on this connection (not behind a transaction
    pooler, where a prepared statement lives on one server session only)."""
    return raw.prepare_threshold is not None


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work is committed on success and rolled back on any exception."""
    with factory() as session, session.begin():
        yield session


@contextmanager
def raw_connection(engine: Engine) -> Iterator[psycopg.Connection]:
    """A pooled connection's own psycopg connection, for the few hot statements that skip
    SQLAlchemy (Postgres only). On a psycopg error the connection is dropped from the pool, as
    SQLAlchemy does on a disconnect, so that no half-done transaction or changed session
    setting (autocommit) reaches the next user; the error propagates."""
    with engine.connect() as conn:
        try:
            yield conn.connection.driver_connection
        except psycopg.Error as exc:
            explain_pooler_error(exc)
            conn.invalidate()
            raise


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


class AsyncReader:
    """Up to ``size`` autocommit ``psycopg.AsyncConnection`` for one-statement reads on the
    event loop.

    For reads made on every request (API keys): no thread-pool hop, one round trip, a
    prepared statement. Connections are kept open (opening one costs milliseconds of both
    processes' CPU); beyond ``size`` concurrent reads, callers wait for a free connection.
    Connections belong to the event loop that opened them; those of another (a finished
    test client's) loop are dropped. Errors surface as SQLAlchemy's ``OperationalError``,
    like every other database error.
    """

    def __init__(self, url: str, *, size: int = 8, timeout_s: float = 5.0,
                 pooler: str = "none") -> None:
        self.conninfo = make_url(url).set(drivername="postgresql").render_as_string(
            hide_password=False)
        self.prepare = pooler != "transaction"
        self.size, self.timeout_s = size, timeout_s
        self._loop = None

    def _for_this_loop(self):
        import asyncio

        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop, self._idle, self._open = loop, asyncio.Queue(), 0
        return self._idle

    async def fetchone(self, sql: str, params: tuple) -> tuple | None:
        import asyncio

        import psycopg

        idle = self._for_this_loop()
        conn = None
        try:
            conn = await self._acquire(idle)
            cur = await asyncio.wait_for(conn.execute(sql, params, prepare=self.prepare),
                                         self.timeout_s)
            row = await cur.fetchone()
        except BaseException as exc:  # also a cancelled request: never leak a slot
            if conn is not None:
                self._open -= 1
                if not conn.closed:
                    asyncio.get_running_loop().create_task(conn.close())
            if isinstance(exc, (psycopg.Error, OSError, asyncio.TimeoutError)):
                explain_pooler_error(exc)
                raise OperationalError(sql, None, exc) from exc
            raise
        idle.put_nowait(conn)
        return row

    async def _acquire(self, idle):
        import asyncio

        import psycopg

        if not idle.empty() or self._open >= self.size:
            return await asyncio.wait_for(idle.get(), self.timeout_s)
        self._open += 1
        try:
            return await psycopg.AsyncConnection.connect(
                self.conninfo, autocommit=True, connect_timeout=max(1, int(self.timeout_s)),
                prepare_threshold=5 if self.prepare else None)
        except BaseException:
            self._open -= 1
            raise
