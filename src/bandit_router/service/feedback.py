"""Feedback: an outcome recorded exactly once, acknowledged only once it is committed.

One implementation, for the event loop (:meth:`FeedbackDesk.record`): it awaits the group
commit (``store.writer.FeedbackCommitter``) without holding a thread; a thread is used only
to wait for a decision still in this process's buffer, or to ask the database whether a
decision not found yet may still be on its way (``lookup``).
"""

from __future__ import annotations

import asyncio
import time

from bandit_router import metrics
from bandit_router.service.lookup import DecisionLookup
from bandit_router.store.decisions import Outcome
from bandit_router.store.errors import NotFound
from bandit_router.store.writer import (DecisionWriter, FeedbackCommitter, Logged, Settled,
                                        Unavailable)


class FeedbackDesk:
    def __init__(self, lookup: DecisionLookup) -> None:
        self.lookup = lookup
        self.writer: DecisionWriter | None = None  # set when the service starts
        self.committer: FeedbackCommitter | None = None

    def wait_logged(self, decision_id: str, deadline: float | None = None) -> Logged:
        """Return once a decision this process routed is committed (at once for others), or
        at ``deadline``; says whether it was in this process's buffer. Blocks."""
        if self.writer is None:
            return Logged.UNKNOWN
        deadline = self.lookup.deadline() if deadline is None else deadline
        return self.writer.wait_logged(decision_id, max(deadline - time.monotonic(), 0.0))

    async def logged(self, decision_id: str, deadline: float) -> Logged:
        """:meth:`wait_logged` for the event loop (a thread only while it must wait)."""
        state = self.wait_logged(decision_id, 0.0)
        if state is Logged.PENDING:
            state = await asyncio.to_thread(self.wait_logged, decision_id, deadline)
        return state

    async def record(self, decision_id: str, outcome: Outcome, *,
                     tenant_id: str | None = None) -> tuple[int, bool]:
        """Record an outcome exactly once and settle what the decision cost.

        Returns (feedback id, created) once the row is committed. It is committed together
        with whatever other feedback is queued (group commit), and only after its decision's
        row is committed, so an acknowledged outcome never refers to a decision that a crash
        could lose. Raises :class:`NotFound`, :class:`Conflict`, or :class:`Unavailable`
        while the decision waits for an unreachable database.
        """
        committer = self.committer
        deadline = self.lookup.deadline()
        state = await self.logged(decision_id, deadline)
        if state is Logged.PENDING:
            raise Unavailable(f"decision {decision_id!r} is not logged yet (the database is "
                              "unavailable); nothing was stored, retry later")
        if state is Logged.UNLOGGED:
            raise NotFound(f"decision {decision_id!r} was answered while the database was "
                           "unavailable and could not be logged; its feedback cannot be stored")

        async def commit() -> tuple[int, bool]:
            # The committer wakes this loop once per batch with every result (not once per
            # feedback, as wrap_future and wait_for would: ~15-20 µs of CPU per feedback).
            loop = asyncio.get_running_loop()
            waiter = loop.create_future()
            future = committer.submit(decision_id, outcome, tenant_id, waiter)
            timer = loop.call_later(max(deadline - time.monotonic(), 0.0), _expire, waiter)
            try:
                return await waiter
            except _TooSlow:
                future.cancel()  # not begun: the committer leaves it out
                raise self.lookup.too_slow() from None
            except asyncio.CancelledError:  # the request went away
                future.cancel()
                raise
            finally:
                timer.cancel()

        return await self.lookup.until_found(commit, decision_id, tenant_id, state, deadline)


class _TooSlow(Exception):
    """The feedback's deadline passed before its commit was reported."""


def _expire(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_exception(_TooSlow())


def count_settled(settled: list[Settled]) -> None:
    """Spend and reward counters, as each feedback batch commits."""
    for item in settled:
        metrics.child(metrics.SPEND, item.tenant_id or "-", item.model_id).inc(
            max(item.charged_usd, 0.0))
        if item.reward is not None:
            metrics.child(metrics.REWARD, item.model_id).observe(item.reward)
