"""``POST /v1/route`` and ``POST /v1/feedback``, the two calls made for every LLM request,
served without FastAPI's per-request machinery (routing table, dependency solving,
response revalidation), which cost more CPU than the decision itself.

Only a request that parses and validates takes this path: it is checked against the same
pydantic schema, then authenticated and answered by the same functions as the FastAPI
route (``routes.route.decide``, ``routes.feedback.record``). Any other request — not JSON,
invalid JSON, a schema error — is handed on untouched, body included, to the FastAPI
route, so that its error response is exactly the documented one. An error raised after
validation (authentication, rate limit, routing, database) is answered by the exception
handlers the app registers, as it would be there. The routes stay in the OpenAPI schema.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bandit_router.api.deps import principal_of_header
from bandit_router.api.routes.feedback import STATUS_CODE, record
from bandit_router.api.routes.route import decide
from bandit_router.api.schemas import FeedbackIn, RouteIn

_JSON_TYPES = {b"application/json", b"application/json; charset=utf-8"}


async def _route(body: RouteIn, app: Any, caller: Any) -> tuple[int, BaseModel]:
    return 200, await decide(body, app.state.service, caller)


async def _feedback(body: FeedbackIn, app: Any, caller: Any) -> tuple[int, BaseModel]:
    out = await record(body, app.state.service, caller)
    return STATUS_CODE[out.status], out


Handler = Callable[[Any, Any, Any], Awaitable[tuple[int, BaseModel]]]
_ENDPOINTS: dict[str, tuple[type[BaseModel], Handler]] = {
    "/v1/route": (RouteIn, _route),
    "/v1/feedback": (FeedbackIn, _feedback),
}


class HotPaths:
    """ASGI middleware: answers the hot endpoints directly, passes everything else on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = (_ENDPOINTS.get(scope["path"])
                    if scope["type"] == "http" and scope["method"] == "POST" else None)
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if headers.get(b"content-type", b"").lower() not in _JSON_TYPES:
            await self.app(scope, receive, send)
            return
        read = await _read_body(receive)
        if read is None:  # the client went away before sending the whole body
            return
        raw, receive = read
        schema, handler = endpoint
        try:
            body = schema.model_validate(json.loads(raw))
        except (ValueError, ValidationError, RecursionError):  # JSONDecodeError is a ValueError
            await self.app(scope, receive, send)  # FastAPI words the error
            return
        app = scope["app"]
        try:
            caller = await principal_of_header(
                headers.get(b"authorization", b"").decode("latin-1") or None,
                app.state.service, app.state.rate_limiter)
            status, out = await handler(body, app, caller)
        except Exception as exc:  # noqa: BLE001 - answered by the app's own handler
            response = await _handler_for(app, exc)(Request(scope), exc)
            await response(scope, receive, send)
            return
        payload = out.__pydantic_serializer__.to_json(out)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})


async def _read_body(receive: Receive) -> tuple[bytes, Receive] | None:
    """The whole request body, and a ``receive`` that replays it for the next app; None if
    the client disconnected first."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    raw = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": raw, "more_body": False}
        return await receive()

    return raw, replay


def _handler_for(app: Any, exc: Exception) -> Callable:
    """The app's registered handler for ``exc``, by its class's method resolution order."""
    for cls in type(exc).__mro__:
        handler = app.exception_handlers.get(cls)
        if handler is not None:
            return handler
    raise exc
