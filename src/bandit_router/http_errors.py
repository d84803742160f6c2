"""The error vocabulary of bandit-router's two HTTP edges, the API and the proxy.

One body per path family — ``{"detail": "what to fix", ...}`` on bandit-router's own
endpoints, OpenAI's ``{"error": {"message", "type", "code", "param"}}`` on the
OpenAI-compatible ones, so that OpenAI SDKs raise their usual exceptions with our message —
one Retry-After formula, and one table (:func:`problem_of`) from each domain exception to
what it is answered: status, message, Retry-After, and OpenAI's type, code and param.
``api/errors.py`` (with ``api/limits.py``) and ``proxy/errors.py`` answer with these; nothing
else spells an error body or maps an exception to a status.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import DataError, DBAPIError

from bandit_router.routing.catalog import CatalogError
from bandit_router.routing import (BudgetExhausted, NoModels, NothingFits, RoutingError,
                                   RuleLeavesNothing, UnknownModels)
from bandit_router.store.errors import Conflict, NotFound
from bandit_router.store.writer import Unavailable

OPENAI_PATHS = ("/v1/chat/completions",)
# OpenAI's error type for each status; any other status is an "api_error".
OPENAI_TYPES = {400: "invalid_request_error", 401: "authentication_error",
                403: "permission_error", 404: "not_found_error", 408: "invalid_request_error",
                409: "invalid_request_error", 413: "invalid_request_error",
                422: "invalid_request_error", 429: "rate_limit_error"}
DATABASE_UNAVAILABLE = "the database is unavailable; nothing was stored, retry later"
DATABASE_RETRY_S = 2.0
NO_MODELS_RETRY_S = 5.0


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


@dataclass(frozen=True)
class Problem:
    """One error as both edges answer it. ``openai_status`` is the status on the OpenAI
    paths where OpenAI's convention differs (a prompt too long for every model is OpenAI's
    400 ``context_length_exceeded``, bandit-router's own 422)."""

    status: int
    message: str
    retry_after_s: float | None = None
    type: str | None = None
    code: str | None = None
    param: str | None = None
    openai_status: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def status_on(self, path: str) -> int:
        return (self.openai_status or self.status) if is_openai_path(path) else self.status

    def headers(self) -> dict[str, str]:
        return {} if self.retry_after_s is None else {"Retry-After": retry_after(
            self.retry_after_s)}

    def body_on(self, path: str) -> dict[str, Any]:
        if is_openai_path(path):
            return self.openai_body()
        return {"detail": self.message, **self.extra}

    def openai_body(self) -> dict[str, Any]:
        return openai_error(self.openai_status or self.status, self.message, type=self.type,
                            code=self.code, param=self.param)


# The domain exceptions every edge answers the same way (api/errors.py registers a handler
# for each; the proxy maps them when a decision fails).
DOMAIN_ERRORS = (CatalogError, NotFound, Unavailable, Conflict, RoutingError, BudgetExhausted,
                 NoModels, DataError, DBAPIError)


def problem_of(exc: BaseException) -> Problem | None:
    """What a domain exception is answered, or None for one that is not (a bug: a 500)."""
    text = str(exc)
    if isinstance(exc, NothingFits):
        return Problem(422, text, openai_status=400, code="context_length_exceeded",
                       param="messages")
    if isinstance(exc, RuleLeavesNothing):
        return Problem(422, text, code="no_candidate_left", param="model")
    if isinstance(exc, UnknownModels):
        return Problem(422, text, openai_status=404, code="model_not_found", param="model")
    if isinstance(exc, (RoutingError, CatalogError)):
        return Problem(422, text)
    if isinstance(exc, NotFound):
        return Problem(404, text)
    if isinstance(exc, Conflict):
        return Problem(409, text)
    if isinstance(exc, Unavailable):
        return Problem(503, text, exc.retry_after_s, type="server_error",
                       code="database_unavailable")
    if isinstance(exc, BudgetExhausted):
        return Problem(429, text, exc.retry_after_s, type="insufficient_quota",
                       code="budget_exhausted")
    if isinstance(exc, NoModels):
        return Problem(503, text, NO_MODELS_RETRY_S, type="server_error", code="no_models")
    if isinstance(exc, DataError):
        return Problem(422, "a value in the request cannot be stored (check text for control "
                            "characters and numbers for range); nothing was stored")
    if isinstance(exc, DBAPIError):
        return Problem(503, DATABASE_UNAVAILABLE, DATABASE_RETRY_S, type="server_error",
                       code="database_unavailable")
    return None
