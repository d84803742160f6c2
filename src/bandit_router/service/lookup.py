"""Looking up a decision that another process may not have written yet, within a bounded wait.

Decisions are logged in batches off the request path, so feedback (or ``GET
/v1/decisions/{id}``) can reach a worker before the worker that routed the decision has
committed it — for milliseconds normally, for seconds after an outage or while a table is
locked. ``404 unknown decision`` makes a client drop the reward, so it is answered only when
the decision cannot still be on its way (:meth:`DecisionLookup.missing`, the one place that
decides); otherwise the caller looks again with backoff and, once its wait
(``BANDIT_ROUTER_FEEDBACK_WAIT_S``) is over, answers 503 with ``Retry-After``. A commit that
does not come back within that wait (a locked table) is answered 503 the same way: nothing is
lost, because a retried feedback is stored once (an identical repeat is a 200).
"""

from __future__ import annotations

import asyncio
import time
from typing import Awaitable, Callable, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from bandit_router.store.decision_ids import COMMITTED, IdIssuer, parse
from bandit_router.store.decisions import Expired, first_decision_in, missing_decision
from bandit_router.store.errors import NotFound, TimedOut
from bandit_router.store.writer import Logged, Unavailable

T = TypeVar("T")
RETRY_AFTER_S = 1.0
LONGEST_PAUSE_S = 0.5  # between two looks


class DecisionLookup:
    def __init__(self, ids: IdIssuer, sessions: sessionmaker[Session], *, wait_s: float,
                 grace_s: float, in_flight_s: float) -> None:
        self.ids, self.sessions = ids, sessions
        self.wait_s, self.grace_s, self.in_flight_s = wait_s, grace_s, in_flight_s

    def deadline(self) -> float:
        """When a request that starts now must be answered (monotonic clock)."""
        return time.monotonic() + self.wait_s

    @staticmethod
    def left(deadline: float) -> float:
        """The time a query may still take before ``deadline`` (at least a millisecond)."""
        return max(deadline - time.monotonic(), 0.001)

    def missing(self, decision_id: str, tenant_id: str | None, state: Logged,
                misses: int, deadline: float | None = None) -> float:
        """The lookup found no decision ``decision_id`` (for ``tenant_id``) ``misses`` times:
        raise :class:`NotFound` when it cannot still be on its way to the database (HTTP 404),
        else return how long to wait before looking again.

        ``state`` is what this process's own writer knows of it; the database is asked for
        at most until ``deadline``."""
        parsed = parse(decision_id)
        if parsed is not None and time.time() - parsed.created_s > self.in_flight_s:
            with self.sessions() as s:  # long out of any writer's buffer: gone, or expired
                raise missing_decision(s, decision_id)
        gone = NotFound(f"decision {decision_id!r} does not exist")
        if state is not Logged.UNKNOWN:  # this process logged it: the database is the truth
            raise gone
        if parsed is None:  # an id of an older version: look once more after the grace
            if misses > 1 or self.grace_s <= 0:
                raise gone
            return self.grace_s
        if parsed.origin == self.ids.origin or parsed.kind == COMMITTED:
            raise gone  # not in this process's buffer / committed before it was answered
        if abs(time.time() - parsed.created_s) > self.in_flight_s:
            raise gone  # no writer holds a decision this long (its process stopped)
        left = None if deadline is None else self.left(deadline)
        try:
            with self.sessions() as s, s.begin():
                first = first_decision_in(s, *parsed.later_of_origin(), timeout_s=left)
        except TimedOut:  # the wait is over while the database is slow or a table locked
            raise self.not_yet(decision_id) from None
        if first is not None:
            found_id, owner = first
            if found_id != decision_id:
                # A later decision of its origin is logged: the writer, which never reorders,
                # has committed or given up this one, and it is not there.
                raise gone
            if tenant_id is not None and owner != tenant_id:
                raise gone  # another tenant's decision
            return 0.0  # it was committed just now: look again at once
        return min(max(self.grace_s, 0.01) * 2 ** (misses - 1), LONGEST_PAUSE_S)

    async def until_found(self, find: Callable[[], Awaitable[T]], decision_id: str,
                          tenant_id: str | None, state: Logged, deadline: float) -> T:
        """``await find()`` until it stops raising NotFound, pausing as :meth:`missing` says;
        :class:`Unavailable` once ``deadline`` would pass."""
        misses = 0
        while True:
            if misses:  # the database is asked in a thread: the event loop keeps serving
                pause = await asyncio.to_thread(self.missing, decision_id, tenant_id, state,
                                                misses, deadline)
                if time.monotonic() + pause >= deadline:
                    raise self.not_yet(decision_id)
                await asyncio.sleep(pause)
            try:
                return await find()
            except Expired:
                raise
            except NotFound:
                misses += 1
            except TimedOut:  # the database is slow or a table locked, past the wait
                raise self.not_yet(decision_id) from None

    def not_yet(self, decision_id: str) -> Unavailable:
        return Unavailable(
            f"decision {decision_id!r} is not in the database yet: the process that routed it "
            "logs decisions in batches and has not written it (the database may be slow, "
            f"locked or recovering); nothing was stored, retry in {RETRY_AFTER_S:g} s",
            RETRY_AFTER_S)

    def too_slow(self) -> Unavailable:
        return Unavailable(
            f"the database did not store the feedback within {self.wait_s:g} s "
            "(BANDIT_ROUTER_FEEDBACK_WAIT_S; is a table locked?); retry: if it was stored "
            "meanwhile, an identical repeat is answered 200 and stored once", RETRY_AFTER_S)
