"""Errors of the proxy, answered in OpenAI's format so that OpenAI SDKs raise them cleanly:
``{"error": {"message", "type", "code", "param"}}`` (the vocabulary is
:mod:`bandit_router.http_errors`)."""

from __future__ import annotations

import json

from starlette.responses import JSONResponse

from bandit_router.http_errors import Problem, problem_of


class ProxyError(Exception):
    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None,
                 retry_after_s: float | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.problem = Problem(status, message, retry_after_s, type=type, code=code,
                               param=param)
        self.headers = {**self.problem.headers(), **(headers or {})}

    @classmethod
    def of(cls, exc: BaseException) -> "ProxyError | None":
        """The proxy's answer to a domain exception (None for one that is not a domain
        error), as the API would answer it on this path."""
        problem = problem_of(exc)
        if problem is None:
            return None
        self = cls.__new__(cls)
        Exception.__init__(self, problem.message)
        self.problem, self.headers = problem, problem.headers()
        return self

    @property
    def status(self) -> int:
        return self.problem.openai_status or self.problem.status

    def body(self) -> dict:
        return self.problem.openai_body()

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)

    def sse_event(self) -> bytes:
        """The error as a last server-sent event, for a stream already under way."""
        return b"data: " + json.dumps(self.body()).encode() + b"\n\n"
