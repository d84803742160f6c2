"""Request ids, request timing and the /metrics endpoint."""

from __future__ import annotations

import logging
import re
import time
import uuid

from fastapi import APIRouter, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bandit_router import logs, metrics
from bandit_router.api.deps import ServiceDep

log = logging.getLogger("bandit_router.http")
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_TIMED = {"/v1/route", "/v1/feedback", "/v1/chat/completions"}


class RequestContext:
    """Takes ``X-Request-ID`` (or makes one), echoes it, times the request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers", [])).get(b"x-request-id", b"").decode("latin-1")
        rid = given if _VALID_ID.match(given) else uuid.uuid4().hex
        token = logs.request_id.set(rid)
        start = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [(b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            path = scope.get("path", "")
            elapsed = time.perf_counter() - start
            endpoint = path if path in _TIMED else "other"
            metrics.HTTP_LATENCY.labels(endpoint, scope.get("method", ""), str(status)).observe(
                elapsed)
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
