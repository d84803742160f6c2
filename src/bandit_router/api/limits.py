"""What the edge (api/edge.py) answers a request body over the configured size (413, before
it is parsed) and one that takes too long to arrive (408)."""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import Scope, Send

from bandit_router.http_errors import error_body


def too_large_message(max_bytes: int) -> str:
    return (f"request body is larger than {max_bytes} bytes "
            "(BANDIT_ROUTER_MAX_BODY_BYTES)")


async def send_error(scope: Scope, send: Send, status: int, message: str,
                     headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    """A JSON error answered by a middleware (OpenAI's shape on the proxy's path)."""
    body = json.dumps(error_body(scope.get("path", ""), status, message)).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), *headers,
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class BodyTimeout(HTTPException):
    """The client did not send its whole body in time (HTTP 408). An HTTPException, so that a
    FastAPI route reading the body answers it with the app's own error handler."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(408, f"the request body did not arrive within {timeout_s:g} s "
                              "(BANDIT_ROUTER_REQUEST_BODY_TIMEOUT_S); send it at once",
                         headers={"Connection": "close"})
