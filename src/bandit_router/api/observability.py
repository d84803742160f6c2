"""Request ids, request timing and the /metrics endpoint."""

from __future__ import annotations

import logging
import re
import time

from fastapi import APIRouter, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bandit_router import logs, metrics
from bandit_router.unique_ids import new_hex_id
from bandit_router.api.deps import ServiceDep

log = logging.getLogger("bandit_router.http")
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_MAX_TRACKED = 10_000
_TIMED = {"/v1/route", "/v1/feedback", "/v1/chat/completions"}


class RequestContext:
    """Takes ``X-Request-ID`` (or makes one), echoes it, times the request."""

    def __init__(self, app: ASGIApp, max_requests_per_connection: int = 0) -> None:
        self.app = app
        self.max_requests = max_requests_per_connection
        self._served: dict[tuple, int] = {}  # answers per open connection, by client address

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
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":  # the last one, as dict() of the headers gave
                given = value.decode("latin-1")
        rid = given if given and _VALID_ID.match(given) else new_hex_id()
        token = logs.request_id.set(rid)
        start = time.perf_counter()
        status = 500
        close = self._last_on_connection(scope)

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [(b"x-request-id", rid.encode())]
                if close and not any(n.lower() == b"connection" for n, _ in message["headers"]):
                    message["headers"].append((b"connection", b"close"))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
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


router = APIRouter(tags=["observability"])


@router.get("/metrics", include_in_schema=False)
def prometheus_metrics(service: ServiceDep) -> Response:
    posterior = service.router.posterior
    metrics.POLICY_VERSION.set(posterior.version)
    metrics.POLICY_CREATED.set(posterior.stats.t)
    metrics.POSTERIOR_LAG.set(service.staleness()["lag_s"])
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)
