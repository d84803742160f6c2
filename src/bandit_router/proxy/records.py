"""What the proxy writes after it has answered: usage rows, many per transaction, and the
feedback of attempts that failed, off the answer's path.

A commit waits for the disk (~5 ms for a flushed WAL write on the benchmark machine, on
SQLite and Postgres alike): one per forwarded call was most of the latency the proxy added.
Rows are queued and a background task commits whatever has gathered in one transaction,
after lingering ``linger_s`` for more rows to come (a group commit): at one connection every
call was its own transaction, and the writer's commit cost ~0.4 ms of CPU per call, a fifth
of the serving process's CPU per proxied call (per-thread CPU from /proc under
``python -m benchmarks proxy``'s load, 2026-12-06); lingering 20 ms makes it one commit per
several calls at any rate. A row is committed ~20 ms later than before, still off the
answer's path; a full batch, and closing, cut the lingering short.
Nothing is dropped: a full queue makes callers wait for room, a database outage is retried
with backoff (the rows kept), and closing drains the queue. ``recorded(decision_id)`` waits
until a decision's usage row is committed, for code that reads it back (the charge of a
cascade's failed check).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Coroutine

import anyio
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from bandit_router.store.db import transaction
from bandit_router.store.usage import record_usages

log = logging.getLogger(__name__)


class Records:
    def __init__(self, sessions: sessionmaker[Session], *, max_batch: int = 500,
                 max_queue: int = 10_000, retry_max_s: float = 2.0,
                 linger_s: float = 0.02) -> None:
        self.sessions = sessions
        self.max_batch, self.max_queue, self.retry_max_s = max_batch, max_queue, retry_max_s
        self.linger_s = linger_s
        self._queue: list[dict[str, Any]] = []
        self._written: dict[str, asyncio.Event] = {}  # decision id → set once committed
        self._wake: asyncio.Event | None = None
        self._room: asyncio.Event | None = None
        self._hurry: asyncio.Event | None = None  # set: commit now, do not linger
        self._closing = False
        self._writer: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.lost = 0  # rows given up at close (the database stayed unreachable)

    def _start(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # first use, or a test client's new event loop
            self._loop, self._wake, self._room = loop, asyncio.Event(), asyncio.Event()
            self._hurry = asyncio.Event()
            if self._closing:
                self._hurry.set()
            self._writer = loop.create_task(self._run(), name="usage-recorder")

    # -- callers ------------------------------------------------------------------------
    async def usage(self, row: dict[str, Any]) -> None:
        """Queue one ``usage`` row (column → value); returns at once unless the queue is
        full, then when there is room."""
        self._start()
        while len(self._queue) >= self.max_queue:
            self._room.clear()
            await self._room.wait()
        self._queue.append(row)
        self._written[row["decision_id"]] = asyncio.Event()
        self._wake.set()
        if len(self._queue) >= self.max_batch:
            self._hurry.set()

    async def recorded(self, decision_id: str, timeout_s: float = 10.0) -> bool:
        """Wait until the usage row of ``decision_id`` is committed (True), if it is queued."""
        event = self._written.get(decision_id)
        if event is None:
            return True
        with anyio.move_on_after(timeout_s):
            await event.wait()
        return event.is_set()

    def later(self, work: Coroutine) -> None:
        """Run ``work`` in the background; closing waits for it."""
        self._start()
        task = self._loop.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self, timeout_s: float = 10.0) -> None:
        """Finish the background work and commit every queued row (within ``timeout_s``)."""
        if self._loop is not asyncio.get_running_loop():
            return
        self._closing = True
        self._hurry.set()
        with anyio.move_on_after(timeout_s):
            while self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            while self._queue:
                self._wake.set()
                await asyncio.sleep(0.005)
        if self._queue:
            self.lost += len(self._queue)
            log.error("%d usage rows could not be recorded before shutdown (the database is "
                      "unavailable)", len(self._queue))
        self._writer.cancel()

    # -- the writer ---------------------------------------------------------------------
    async def _run(self) -> None:
        backoff = 0.05
        while True:
            await self._wake.wait()
            with anyio.move_on_after(self.linger_s):  # group commit: let more rows come
                await self._hurry.wait()
            if not self._closing:
                self._hurry.clear()
            self._wake.clear()
            while self._queue:
                batch = self._queue[:self.max_batch]
                try:
                    # Shielded: a row being committed is committed, even while shutting down.
                    with anyio.CancelScope(shield=True):
                        await anyio.to_thread.run_sync(self._write, batch)
                except DBAPIError as exc:  # unreachable or refused: keep the rows, retry
                    log.warning("could not record %d usage rows (%s); retrying in %.2f s",
                                len(batch), type(exc.orig or exc).__name__, backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self.retry_max_s)
                    continue
                except Exception:  # a bug, not the database: these rows would never commit
                    log.exception("could not record %d usage rows", len(batch))
                backoff = 0.05
                del self._queue[:len(batch)]
                for row in batch:
                    event = self._written.pop(row["decision_id"], None)
                    if event is not None:
                        event.set()
                self._room.set()

    def _write(self, batch: list[dict[str, Any]]) -> None:
        try:
            with transaction(self.sessions) as s:
                record_usages(s, batch)
        except DBAPIError as exc:
            if not _row_error(exc):
                raise
            for row in batch:  # one bad row must not hold back the others
                try:
                    with transaction(self.sessions) as s:
                        record_usages(s, [row])
                except DBAPIError as one:
                    if not _row_error(one):
                        raise
                    log.error("usage of decision %s refused by the database: %s",
                              row["decision_id"], type(one.orig or one).__name__)


def _row_error(exc: DBAPIError) -> bool:
    """A row the database will never take (a duplicate, a bad value), not an outage."""
    from sqlalchemy.exc import DataError, IntegrityError, ProgrammingError

    return isinstance(exc, (IntegrityError, DataError, ProgrammingError))
