"""Reject request bodies over a configured size with 413 before they are parsed, and bodies
that take too long to arrive with 408."""

from __future__ import annotations

import asyncio
import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bandit_router.http_errors import error_body


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(scope, send)
            return
        seen = 0
        too_big = False

        async def limited() -> Message:
            nonlocal seen, too_big
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    too_big = True
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._reject(scope, send)

    async def _reject(self, scope: Scope, send: Send) -> None:
        message = (f"request body is larger than {self.max_bytes} bytes "
                   "(BANDIT_ROUTER_MAX_BODY_BYTES)")
        await _send_error(scope, send, 413, message)


async def _send_error(scope: Scope, send: Send, status: int, message: str,
                      headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    """A JSON error answered by a middleware (OpenAI's shape on the proxy's path)."""
    body = json.dumps(error_body(scope.get("path", ""), status, message)).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), *headers,
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


class BodyTimeout(HTTPException):
    """The client did not send its whole body in time (HTTP 408). An HTTPException, so that a
    FastAPI route reading the body answers it with the app's own error handler."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(408, f"the request body did not arrive within {timeout_s:g} s "
                              "(BANDIT_ROUTER_REQUEST_BODY_TIMEOUT_S); send it at once",
                         headers={"Connection": "close"})


class BodyReadDeadline:
    """A slow client (a body trickled byte by byte) gets 408 once ``timeout_s`` have passed
    since the request arrived, instead of holding a connection and a task for as long as it
    likes. Only reading the body is timed: once it is complete, ``receive`` is passed through
    untouched (a streamed answer waits on it for the client's disconnect)."""

    def __init__(self, app: ASGIApp, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = asyncio.get_running_loop().time() + self.timeout_s  # the loop's clock
        complete = False
        started = False

        async def timed() -> Message:
            nonlocal complete
            if complete:
                return await receive()
            try:
                message = await _before(receive(), deadline)
            except asyncio.TimeoutError:
                raise BodyTimeout(self.timeout_s) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                complete = True
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, timed, watched)
        except BodyTimeout as exc:  # raised where no exception handler answered it
            if started:
                raise
            await _send_error(scope, send, 408, exc.detail, ((b"connection", b"close"),))


async def _before(awaitable, deadline: float):
    """``await awaitable``, or TimeoutError at ``deadline`` (the loop's clock). A timeout on
    the calling task where Python has one (3.11): ``wait_for`` makes a new task for every
    ``receive``, about a tenth of the middleware's CPU on the hot paths."""
    if _TIMEOUT_AT is None:
        return await asyncio.wait_for(awaitable, deadline - asyncio.get_running_loop().time())
    async with _TIMEOUT_AT(deadline):
        return await awaitable


_TIMEOUT_AT = getattr(asyncio, "timeout_at", None)
