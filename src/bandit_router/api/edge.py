"""The one ASGI middleware every HTTP request passes through, wrapping ``receive`` and ``send``
once for everything the edge does:

- the request id: ``X-Request-ID`` taken (or made), set for the logs, echoed on the answer;
- timing: the request's latency metric and, at DEBUG, an access log line;
- ``Connection: close`` on a connection's ``max_requests_per_connection``-th answer;
- the body size limit: 413 for a declared or received body over ``max_body_bytes``, before
  it is parsed;
- the body read deadline: 408 (and ``Connection: close``) once ``body_timeout_s`` have
  passed since the request arrived and its body is not complete.

The deadline is kept without a timer per request: a body read in progress is registered in a
table of its event loop (:class:`_Reads`), and one timer per loop, armed for the earliest
deadline, cancels the reads still waiting when it is due; the read that was waiting raises
:class:`~bandit_router.api.limits.BodyTimeout`. A read that does not wait (the body already
arrived, as almost always) only registers and unregisters itself.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bandit_router import logs, metrics
from bandit_router.api.limits import BodyTimeout, send_error, too_large_message
from bandit_router.unique_ids import new_hex_id

log = logging.getLogger("bandit_router.http")
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_MAX_TRACKED = 10_000
_TIMED = {"/v1/route", "/v1/feedback", "/v1/chat/completions"}
_UNCANCEL = hasattr(asyncio.Task, "uncancel")  # Python 3.11
# Set in the request's scope once its answer has begun: api.hotpath (right under Edge) reads
# it to handle an exception as Starlette's ExceptionMiddleware does, without wrapping
# ``send`` once more.
RESPONSE_STARTED = "bandit_router.response_started"


class Edge:
    def __init__(self, app: ASGIApp, max_body_bytes: int, body_timeout_s: float,
                 max_requests_per_connection: int = 0) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s
        self.max_requests = max_requests_per_connection
        self._served: dict[tuple, int] = {}  # answers per open connection, by client address
        self._reads: _Reads | None = None  # the body reads in progress, of the last loop seen

    def _last_on_connection(self, scope: Scope) -> bool:
        """Whether this answer is the connection's ``max_requests``-th: then it says
        ``Connection: close``. A client reconnects, and the kernel gives the new connection
        to whichever worker accepts first, an idle one sooner than a busy one. Without it a
        client that reuses a few keep-alive connections can send all its load to one worker
        while the other idles (benchmarks/README.md, 2026-12-06, "the open-loop tail")."""
        client = scope.get("client")
        if not self.max_requests or not client:
            return False
        key = tuple(client)
        n = self._served.get(key, 0) + 1
        if n >= self.max_requests:
            self._served.pop(key, None)
            return True
        if len(self._served) >= _MAX_TRACKED:  # addresses of connections closed long ago
            self._served.clear()
        self._served[key] = n
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = ""
        declared = None
        for name, value in scope.get("headers", ()):  # the last of each, as dict() gave
            if name == b"x-request-id":
                given = value.decode("latin-1")
            elif name == b"content-length":
                declared = value
        rid = given if given and _VALID_ID.match(given) else new_hex_id()
        token = logs.request_id.set(rid)
        start = time.perf_counter()
        status = 500
        started = False
        close = self._last_on_connection(scope)
        loop = asyncio.get_running_loop()
        reads = self._reads
        if reads is None or reads.loop is not loop:
            reads = self._reads = _Reads(loop)
        deadline = loop.time() + self.body_timeout_s  # the loop's clock
        max_bytes = self.max_body_bytes
        seen = 0
        complete = False

        async def edge_receive() -> Message:
            nonlocal complete, seen
            if complete:  # a streamed answer waits here for the client's disconnect
                return await receive()
            task = asyncio.current_task(loop)
            reads.add(task, deadline)
            try:
                message = await receive()
            except asyncio.CancelledError:
                if task not in reads.expired:
                    raise
                if _UNCANCEL and task.uncancel() > 0:  # cancelled by someone else too
                    raise
                raise BodyTimeout(self.body_timeout_s) from None
            finally:
                reads.waiting.pop(task, None)
                reads.expired.discard(task)
            if message["type"] != "http.request" or not message.get("more_body", False):
                complete = True
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > max_bytes:
                    raise _TooLarge
            return message

        async def edge_send(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = scope[RESPONSE_STARTED] = True
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [(b"x-request-id", rid.encode())]
                if close and not any(n.lower() == b"connection" for n, _ in message["headers"]):
                    message["headers"].append((b"connection", b"close"))
            await send(message)

        try:
            if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                await send_error(scope, edge_send, 413, too_large_message(max_bytes))
                return
            try:
                await self.app(scope, edge_receive, edge_send)
            except _TooLarge:
                await send_error(scope, edge_send, 413, too_large_message(max_bytes))
            except BodyTimeout as exc:  # raised where no exception handler answered it
                if started:
                    raise
                await send_error(scope, edge_send, 408, exc.detail, ((b"connection", b"close"),))
        finally:
            path = scope.get("path", "")
            elapsed = time.perf_counter() - start
            endpoint = path if path in _TIMED else "other"
            metrics.child(metrics.HTTP_LATENCY, endpoint, scope.get("method", ""),
                          str(status)).observe(elapsed)
            if log.isEnabledFor(logging.DEBUG):
                log.debug("request", extra={"method": scope.get("method"), "path": path,
                                            "status": status,
                                            "duration_ms": round(elapsed * 1000, 3)})
            logs.request_id.reset(token)


class _TooLarge(Exception):
    pass


class _Reads:
    """The body reads waiting on one event loop, each task's deadline (the loop's clock), and
    one timer for all of them, due at the earliest; when it is due it cancels every read past
    its deadline (as ``asyncio.timeout_at`` would have, a timer each), keeping which tasks
    it cancelled in ``expired``, and is armed again for the next deadline."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.waiting: dict[asyncio.Task, float] = {}
        self.expired: set[asyncio.Task] = set()
        self.due = math.inf  # when the timer fires; inf: not armed
        self.timer: asyncio.TimerHandle | None = None

    def add(self, task: asyncio.Task, deadline: float) -> None:
        self.waiting[task] = deadline
        if deadline < self.due:
            if self.timer is not None:
                self.timer.cancel()
            self.due = deadline
            self.timer = self.loop.call_at(deadline, self._expire)

    def _expire(self) -> None:
        self.timer = None
        now = self.loop.time()
        due = math.inf
        for task, deadline in list(self.waiting.items()):
            if deadline <= now:
                del self.waiting[task]
                self.expired.add(task)
                task.cancel()
            elif deadline < due:  # (a timer that fired a clock tick early: armed again)
                due = deadline
        self.due = due
        if due < math.inf:
            self.timer = self.loop.call_at(due, self._expire)
