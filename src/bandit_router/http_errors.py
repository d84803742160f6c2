"""The error vocabulary of bandit-router's two HTTP edges, the API and the proxy.

One body per path family — ``{"detail": "what to fix", ...}`` on bandit-router's own
endpoints, OpenAI's ``{"error": {"message", "type", "code", "param"}}`` on the
OpenAI-compatible ones, so that OpenAI SDKs raise their usual exceptions with our message —
and one Retry-After formula. ``api/errors.py``, ``api/limits.py`` and ``proxy/errors.py``
answer with these; nothing else spells an error body.
"""

from __future__ import annotations

import math
from typing import Any

OPENAI_PATHS = ("/v1/chat/completions",)
# OpenAI's error type for each status; any other status is an "api_error".
OPENAI_TYPES = {400: "invalid_request_error", 401: "authentication_error",
                403: "permission_error", 404: "not_found_error", 408: "invalid_request_error",
                409: "invalid_request_error", 413: "invalid_request_error",
                422: "invalid_request_error", 429: "rate_limit_error"}
DATABASE_UNAVAILABLE = "the database is unavailable; nothing was stored, retry later"


def retry_after(seconds: float) -> str:
    """The Retry-After header value: whole seconds, at least 1, never earlier than asked."""
    return str(max(1, math.ceil(seconds)))


def is_openai_path(path: str) -> bool:
    return path.startswith(OPENAI_PATHS)


def openai_error(status: int, message: str, *, type: str | None = None,
                 code: str | None = None, param: str | None = None) -> dict[str, Any]:
    """OpenAI's error body; ``type`` defaults to OpenAI's type for ``status``."""
    return {"error": {"message": message, "type": type or OPENAI_TYPES.get(status, "api_error"),
                      "code": code, "param": param}}


def error_body(path: str, status: int, message: str, **extra: Any) -> dict[str, Any]:
    """The body of an error answered on ``path``: OpenAI's shape on the OpenAI-compatible
    paths (``extra`` is dropped there), ``{"detail": message, **extra}`` elsewhere."""
    if is_openai_path(path):
        return openai_error(status, message)
    return {"detail": message, **extra}
