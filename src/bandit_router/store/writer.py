"""Batched writes off the request path: the decision log and feedback group commit.

(Two classes in one module past 300 lines: they share the batching discipline — linger,
the transient/permanent error split, answering each waiting request after the commit.)

:class:`DecisionWriter` is the one write path of the decision log. It takes decision rows
from request threads and inserts them from one background thread, many rows per transaction
(``INSERT … ON CONFLICT DO NOTHING``, so a batch whose commit was lost in a dropped connection
can be retried without duplicates). A row is either *queued* (:meth:`DecisionWriter.submit`:
answered at once; while the database is unreachable it is kept in memory up to a bound and
retried with backoff; past the bound a decision is *unlogged*: counted, remembered, and never
given a 2xx for feedback) or *committed* (:meth:`DecisionWriter.commit`: its request waits
for the batch's commit, which also makes a budgeted decision's reservation, exactly once: a
failed attempt is the request's error, never retried behind its back).

:class:`FeedbackCommitter` commits queued feedback rows together in one transaction and hands
each waiting request its own answer (created, identical repeat, conflict, unknown decision).
A request is answered only after that commit, so every 2xx is durable; since the feedback row
references its decision, an acknowledged feedback also proves its decision was committed.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict, deque
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from itertools import islice
from typing import Callable, NamedTuple

import psycopg
from sqlalchemy import Engine, select
from sqlalchemy.exc import (DataError, DBAPIError, IntegrityError, OperationalError,
                            ProgrammingError)
from sqlalchemy.orm import Session, sessionmaker

from bandit_router.routing.catalog import ModelSpec
from bandit_router.store import spend
from bandit_router.store.decisions import (FEEDBACK_FIELDS, Outcome, decisions_to_settle,
                                           insert_decisions, insert_feedback, made_between,
                                           missing_decision)
from bandit_router.store.errors import Conflict, StoreError
from bandit_router.store.locks import FEEDBACK_LOCK
from bandit_router.store.missing import closed_windows, drop_defaults, window_closed
from bandit_router.store.models import to_spec
from bandit_router.store.schema import FeedbackRow, ModelRow

log = logging.getLogger(__name__)


class Unavailable(StoreError):
    """The database cannot store this now; retrying later may succeed (HTTP 503)."""

    def __init__(self, message: str, retry_after_s: float = 2.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def _transient(exc: BaseException) -> bool:
    """A lost connection or an unreachable server, as opposed to a row the database rejects."""
    if isinstance(exc, psycopg.Error):
        return isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError))
    return isinstance(exc, DBAPIError) and not isinstance(
        exc, (IntegrityError, DataError, ProgrammingError))


def unavailable(cause: Exception) -> OperationalError:
    """The database error answered when the decision log cannot write now (HTTP 503)."""
    return OperationalError("decision log", None, cause)


def _linger(linger_s: float, queued: int, max_batch: int, closing: bool) -> float:
    """How long a writer lets a batch gather before taking it (one commit for many rows
    costs far less): not at all once a batch is full or while shutting down."""
    return 0.0 if closing or queued >= max_batch else linger_s


class Logged(Enum):
    COMMITTED = "committed"  # was in this process's buffer and is now committed
    UNKNOWN = "unknown"  # never in this buffer: look in the database
    PENDING = "pending"  # still buffered when the wait ended (database unavailable?)
    UNLOGGED = "unlogged"  # dropped: the buffer was full, or the database rejected the row


class Reservation(NamedTuple):
    """Money a budgeted decision takes from its tenant's period, if it fits under the limit
    (``limit_usd`` None: unconditionally, e.g. routed to the cheapest once exhausted)."""
    tenant_id: str
    period_start: datetime
    cost_usd: float
    limit_usd: float | None


class Committed(NamedTuple):
    """The answer to :meth:`DecisionWriter.commit`."""
    reserved: bool  # False: the reservation did not fit, and the row was not written
    committed_usd: float | None  # the period's committed spend, read when it did not fit


@dataclass(eq=False)
class _Commit:
    row: dict
    reservation: Reservation | None
    future: Future


class DecisionWriter:
    """Inserts decision rows in batches from a background thread."""

    def __init__(self, engine: Engine, *, max_batch: int = 1000, max_buffer: int = 100_000,
                 retry_max_s: float = 2.0, remember_unlogged: int = 100_000,
                 linger_s: float = 0.0) -> None:
        self.engine = engine
        self.linger_s = linger_s
        self.max_batch = max_batch
        self.max_buffer = max_buffer
        self.retry_max_s = retry_max_s
        self._cond = threading.Condition()
        self._queue: deque[dict | _Commit] = deque()
        self._pending: set[str] = set()  # ids of queued rows (not of committed ones)
        self._unlogged: OrderedDict[str, None] = OrderedDict()
        self._remember = remember_unlogged
        self._closing = False
        self._deadline = float("inf")
        self.unlogged_count = 0
        self.last_error: str | None = None
        self._thread = threading.Thread(target=self._run, name="decision-writer", daemon=True)
        self._thread.start()

    # -- request side ---------------------------------------------------------------------
    def submit(self, row: dict) -> bool:
        """Queue one row (keys: ``decisions`` column names). False when it was not queued
        because the buffer is full: the decision is then unlogged."""
        with self._cond:
            if self._closing:
                raise RuntimeError("the decision writer is closed")
            if len(self._pending) >= self.max_buffer:
                self._forget(row["id"])
                return False
            self._queue.append(row)
            self._pending.add(row["id"])
            if len(self._queue) == 1:  # the writer may be asleep on an empty queue
                self._cond.notify_all()
        return True

    def commit(self, row: dict, reservation: Reservation | None = None) -> Future:
        """Write ``row`` (and make ``reservation``) in the next batch's transaction: a future
        of :class:`Committed`, or of the database's error. Raises that error (an
        ``OperationalError``, as a failed commit would) at once while the writer is retrying
        an outage with rows buffered, and when closed."""
        fut: Future = Future()
        with self._cond:
            if self._closing:
                raise unavailable(ConnectionError("the decision writer is closed"))
            if self._pending and self.last_error is not None:
                raise unavailable(ConnectionError(f"the decision log is retrying an outage "
                                                  f"({self.last_error})"))
            self._queue.append(_Commit(row, reservation, fut))
            if len(self._queue) == 1:  # the writer may be asleep on an empty queue
                self._cond.notify_all()
        return fut

    def wait_logged(self, decision_id: str, timeout: float) -> Logged:
        """Wait until this process's buffer no longer holds ``decision_id``."""
        end = time.monotonic() + timeout
        with self._cond:
            if decision_id not in self._pending:
                return Logged.UNLOGGED if decision_id in self._unlogged else Logged.UNKNOWN
            while decision_id in self._pending:
                left = end - time.monotonic()
                if left <= 0:
                    return Logged.PENDING
                self._cond.wait(left)
            return Logged.UNLOGGED if decision_id in self._unlogged else Logged.COMMITTED

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every row queued so far is committed (or dropped); False on timeout."""
        end = time.monotonic() + timeout
        with self._cond:
            waiting = set(self._pending)
            while waiting & self._pending:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    @property
    def buffered(self) -> int:
        with self._cond:
            return len(self._pending)

    @property
    def healthy(self) -> bool:
        return self.last_error is None

    def close(self, timeout: float = 10.0) -> int:
        """Stop taking rows and drain the buffer for up to ``timeout`` seconds.

        Returns how many rows could not be written (they are logged as an error). Such a
        decision never had feedback acknowledged: feedback waits for its decision's commit.
        """
        with self._cond:
            self._closing = True
            self._deadline = time.monotonic() + timeout
            self._cond.notify_all()
        self._thread.join(timeout + 1.0)
        lost = self.buffered
        if lost:
            log.error("shutdown: %d buffered decisions could not be logged (database "
                      "unavailable); no feedback was acknowledged for them", lost)
        return lost

    # -- writer thread --------------------------------------------------------------------
    def _forget(self, decision_id: str) -> None:
        self.unlogged_count += 1
        self._unlogged[decision_id] = None
        if len(self._unlogged) > self._remember:
            self._unlogged.popitem(last=False)

    def _run(self) -> None:
        backoff = 0.0
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue or (self._closing and time.monotonic() > self._deadline):
                    return
                linger = _linger(self.linger_s, len(self._queue), self.max_batch, self._closing)
            if linger:
                time.sleep(linger)
            with self._cond:
                batch = list(islice(self._queue, self.max_batch))
            rows = [x for x in batch if isinstance(x, dict)]
            commits = [x for x in batch if isinstance(x, _Commit)
                       and x.future.set_running_or_notify_cancel()]  # else: given up
            answers: dict[int, Committed | BaseException] = {}
            try:
                answers = self._write(rows, commits)
                failed: list[str] = []
                backoff, self.last_error = 0.0, None
            except Exception as exc:  # noqa: BLE001 - classified below
                if _transient(exc):
                    self.last_error = type(exc).__name__
                    with self._cond:  # a committed row's request gets the error: not retried
                        head = [self._queue.popleft() for _ in batch]
                        self._queue.extendleft(reversed([x for x in head if isinstance(x, dict)]))
                    for c in commits:
                        c.future.set_exception(exc)
                    if not rows:
                        continue
                    backoff = min(max(backoff * 2, 0.05), self.retry_max_s)
                    log.warning("decision log: database unavailable (%s); %d buffered, retrying "
                                "in %.2fs", type(exc).__name__, self.buffered, backoff)
                    with self._cond:
                        if self._closing and time.monotonic() > self._deadline:
                            return
                        self._cond.wait(backoff)
                    continue
                failed = self._write_one_by_one(rows)
                for c in commits:  # each in its own transaction: one bad row fails alone
                    try:
                        answers.update(self._write([], [c]))
                    except Exception as one:  # noqa: BLE001
                        answers[id(c)] = one
            with self._cond:
                for _ in batch:
                    self._queue.popleft()
                for row in rows:
                    self._pending.discard(row["id"])
                for decision_id in failed:
                    self._forget(decision_id)
                self._cond.notify_all()
            for c in commits:
                answer = answers[id(c)]
                if isinstance(answer, BaseException):
                    c.future.set_exception(answer)
                else:
                    c.future.set_result(answer)

    def _write(self, rows: list[dict], commits: list[_Commit] = ()) -> dict[int, Committed]:
        """One transaction: the reservations (in one order for all writers: no deadlocks),
        then every row whose reservation fitted. Returns each commit's answer by ``id()``."""
        answers = {}
        with self.engine.begin() as conn:
            for c in sorted(commits, key=lambda c: () if c.reservation is None
                            else tuple(c.reservation[:2])):
                r = c.reservation
                if r is None or spend.reserve(conn, *r):
                    answers[id(c)] = Committed(True, None)
                else:
                    answers[id(c)] = Committed(False, spend.counter(conn, *r[:2])[0])
            written = rows + [c.row for c in commits if answers[id(c)].reserved]
            if written:
                insert_decisions(conn, written)
        return answers

    def _write_one_by_one(self, rows: list[dict]) -> list[str]:
        """Isolate rows the database rejects; transient errors are retried in place."""
        failed = []
        for row in rows:
            while True:
                try:
                    self._write([row])
                    break
                except Exception as exc:  # noqa: BLE001
                    if _transient(exc) and not self._closing:
                        time.sleep(self.retry_max_s)
                        continue
                    log.error("decision %s was rejected by the database and is unlogged: %s",
                              row["id"], type(exc).__name__)
                    failed.append(row["id"])
                    break
        return failed


def _still_awaited(items: list["_Pending"]) -> list["_Pending"]:
    """The items whose request still waits: one that gave up (its answer was 503, so its
    client will retry) is cancelled and left out, and the rest can no longer be cancelled."""
    return [it for it in items if it.future.set_running_or_notify_cancel()]


@dataclass
class _Pending:
    decision_id: str
    outcome: Outcome
    tenant_id: str | None
    future: Future
    # An event loop's future to wake with the same result: one wake-up of its loop per batch
    # (_wake_waiters), where asyncio.wrap_future would schedule one per feedback.
    waiter: asyncio.Future | None = None


def _wake_waiters(items: list[_Pending]) -> None:
    """Hand each waiter its item's result (or error), one call per event loop, in that loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Pending]] = {}
    for it in items:
        if it.waiter is not None:
            by_loop.setdefault(it.waiter.get_loop(), []).append(it)
    for loop, batch in by_loop.items():
        try:
            loop.call_soon_threadsafe(_wake, batch)
        except RuntimeError:  # its loop is closed: no one waits any more
            pass


def _wake(batch: list[_Pending]) -> None:
    for it in batch:
        if it.waiter.done():  # gave up (too slow, or its request was cancelled)
            continue
        exc = it.future.exception()  # set before the wake-up was scheduled: no wait
        if exc is None:
            it.waiter.set_result(it.future.result())
        else:
            it.waiter.set_exception(exc)


class Charging(NamedTuple):
    """Everything the charge rule is given for one new feedback: it looks nothing up."""
    estimated_cost_usd: float  # the estimate made when routing
    input_tokens_est: int
    output_tokens_est: int
    outcome: Outcome
    usage_cost_usd: float | None  # what the proxy measured, if it served the call
    model: ModelSpec | None  # the decision's model (its prices), when the outcome has tokens
    trusted: bool  # the reporter may lower the charge: the service, the operator, or a
    #                tenant marked ``trust_reported_cost``


ChargeFn = Callable[[Charging], float]


class Settled(NamedTuple):
    """A newly recorded feedback, as committed: what it was charged and its reward."""
    tenant_id: str | None
    model_id: str
    charged_usd: float
    reward: float | None


class FeedbackCommitter:
    """Group commit of feedback: one transaction for everything queued meanwhile.

    ``charge`` is a pure function from :class:`Charging` (gathered here, inside the
    transaction) to what a decision costs its tenant; the spend counters are settled in the
    same commit. ``on_settled`` is told, after each commit, of the feedback it newly recorded
    (for counters such as spend per model).
    """

    def __init__(self, sessions: sessionmaker[Session], charge: ChargeFn, *,
                 max_batch: int = 500, linger_s: float = 0.0, threads: int = 1,
                 on_settled: Callable[[list[Settled]], None] | None = None) -> None:
        self.sessions = sessions
        self.on_settled = on_settled
        self.linger_s = linger_s
        self.charge = charge
        self.max_batch = max_batch
        self._cond = threading.Condition()
        self._queue: deque[_Pending] = deque()
        self._closing = False
        # With more than one thread, a batch gathers and commits while the previous one waits
        # for its commit: a feedback's answer waits for one commit, not for two in a row.
        # Concurrent batches are what several processes' committers already are (one lock
        # order, ON CONFLICT on the one-feedback-per-decision key).
        self._threads = [threading.Thread(target=self._run, daemon=True,
                                          name=f"feedback-committer-{i}")
                         for i in range(max(threads, 1))]
        for t in self._threads:
            t.start()

    def submit(self, decision_id: str, outcome: Outcome, tenant_id: str | None,
               waiter: asyncio.Future | None = None) -> Future:
        """A future of ``(feedback id, created)``, set after the commit, or of the error
        (:class:`NotFound`, :class:`Conflict`, or a database error). ``waiter``, an event
        loop's future, is given the same result in its loop; cancelling the returned future
        before the commit starts leaves the feedback out."""
        fut: Future = Future()
        with self._cond:
            if self._closing:
                raise Unavailable("the server is shutting down; retry on another replica")
            self._queue.append(_Pending(decision_id, outcome, tenant_id, fut, waiter))
            if len(self._queue) == 1:  # the committer may be asleep on an empty queue
                self._cond.notify_all()
        return fut

    def close(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        end = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(end - time.monotonic(), 0.0))

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    return
                linger = _linger(self.linger_s, len(self._queue), self.max_batch, self._closing)
            if linger:
                time.sleep(linger)
            with self._cond:
                items = [self._queue.popleft()
                         for _ in range(min(len(self._queue), self.max_batch))]
            items = _still_awaited(items)
            if not items:
                continue
            settled: list[Settled] = []
            try:
                results = self._commit(items, settled)
            except Exception as exc:  # noqa: BLE001
                if _transient(exc) or len(items) == 1:
                    for it in items:
                        it.future.set_exception(exc)
                    _wake_waiters(items)
                    continue
                # Something in the batch is wrong: give each item its own transaction.
                log.warning("feedback batch failed (%s); committing one by one", type(exc).__name__)
                results = []
                for it in items:
                    try:
                        results.extend(self._commit([it], settled))
                    except Exception as one:  # noqa: BLE001
                        results.append(one)
            if settled and self.on_settled is not None:
                try:
                    self.on_settled(settled)
                except Exception:  # noqa: BLE001 - a counter must never fail a commit
                    log.exception("on_settled failed")
            for it, res in zip(items, results):
                if isinstance(res, BaseException):
                    it.future.set_exception(res)
                else:
                    it.future.set_result(res)
            _wake_waiters(items)

    def _commit(self, items: list[_Pending], settled: list[Settled]) -> list:
        """One transaction for ``items``; returns per item a result tuple or an exception.
        After the commit, appends what it newly recorded to ``settled``."""
        now = datetime.now(timezone.utc)
        ids = sorted({it.decision_id for it in items})
        results: list = [None] * len(items)
        with self.sessions() as s, s.begin():
            # Queries on the session's connection: the same SQL and rows without the ORM's
            # per-statement work (about a tenth of a group commit's CPU), as no ORM object is
            # loaded by them.
            conn = s.connection()
            # FEEDBACK_LOCK (locks.py) taken by this first query, held until the commit.
            decisions = {d.id: d for d in decisions_to_settle(conn, ids, FEEDBACK_LOCK)}
            first: dict[str, int] = {}  # decision id -> index of the item that may create it
            for i, it in enumerate(items):
                d = decisions.get(it.decision_id)
                if d is None or (it.tenant_id is not None and d.tenant_id != it.tenant_id):
                    results[i] = missing_decision(s, it.decision_id)
                elif it.decision_id not in first:
                    first[it.decision_id] = i
            if not first:
                return results
            # The proxy's measurements (read with the decisions): a reported cost may not go
            # below them.
            usage = {d: decisions[d].usage_cost_usd for d in first}
            charged = {d: self.charge(c) for d, c in _charging(
                s, {d: (decisions[d], items[i]) for d, i in first.items()}, usage).items()}
            late = closed_windows([decisions[d] for d in first], now)
            rows = [dict(decision_id=d, decision_created_at=decisions[d].created_at,
                         model_id=decisions[d].model_id, received_at=now, charged_usd=charged[d],
                         origin="late" if d in late else "app",
                         **{f: getattr(items[first[d]].outcome, f) for f in FEEDBACK_FIELDS})
                    for d in sorted(first)  # one lock order for all writers: no deadlocks
                    if late.get(d, "replace") == "replace"]
            replacing = [d for d, how in late.items() if how == "replace"]
            if replacing:
                drop_defaults(s, replacing)
            created = insert_feedback(s, rows) if rows else {}
            existing = {}
            rest = [d for d in first if d not in created]
            others = [it.decision_id for i, it in enumerate(items)
                      if results[i] is None and first.get(it.decision_id) != i]
            if rest or others:
                look = sorted(set(rest) | set(others))
                existing = {f.decision_id: f for f in s.scalars(select(FeedbackRow).where(
                    FeedbackRow.decision_id.in_(look),
                    *made_between(FeedbackRow.decision_created_at, look)))}
            spend.settle(s, [(decisions[d].tenant_id, decisions[d].budget_period_start,
                              charged[d] - decisions[d].estimated_cost_usd) for d in created])
            for i, it in enumerate(items):
                if results[i] is not None:
                    continue
                d = it.decision_id
                if first[d] == i and d in created:
                    results[i] = (created[d], True)
                    continue
                row = existing.get(d)
                if late.get(d) == "reject" and (row is None or row.origin == "default"):
                    results[i] = window_closed(d)
                    continue
                if row is None:  # created by an earlier item of this batch
                    row_id = created[d]
                    same = it.outcome == items[first[d]].outcome
                else:
                    row_id, same = int(row.id), it.outcome.same_as(row)
                results[i] = (row_id, False) if same else Conflict(
                    f"feedback for decision {d!r} was already recorded with different values; "
                    "feedback is write-once (repeat the identical body to retry safely)")
        # The transaction has committed.
        settled.extend(Settled(decisions[d].tenant_id, decisions[d].model_id, charged[d],
                               items[first[d]].outcome.reward) for d in created)
        return results


def _charging(session: Session, pending: dict[str, tuple], usage: dict[str, float]
              ) -> dict[str, Charging]:
    """By decision id, what the charge rule needs of each ``(decision, _Pending)``: the model
    (one query, only for outcomes that report tokens without a cost) and whether its reporter
    is trusted (read with the decision: an app key's feedback is for its own tenant's
    decisions only, so the reporter is the decision's tenant)."""
    def reports(o: Outcome) -> bool:
        return o.cost_usd is not None or o.input_tokens is not None or o.output_tokens is not None

    priced = {d.model_id for d, it in pending.values()
              if it.outcome.cost_usd is None and reports(it.outcome)}
    models = ({r.id: to_spec(r) for r in session.scalars(
        select(ModelRow).where(ModelRow.id.in_(sorted(priced))))} if priced else {})
    return {d_id: Charging(d.estimated_cost_usd, d.input_tokens_est, d.output_tokens_est,
                           it.outcome, usage.get(d_id), models.get(d.model_id),
                           it.tenant_id is None or bool(d.trust_reported_cost))
            for d_id, (d, it) in pending.items()}
