"""Errors of the proxy, answered in OpenAI's format so that OpenAI SDKs raise them cleanly:
``{"error": {"message", "type", "code", "param"}}``."""

from __future__ import annotations

import json

from fastapi.responses import JSONResponse

from bandit_router.http_errors import openai_error, retry_after


class ProxyError(Exception):
    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None,
                 retry_after_s: float | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = dict(headers or {})
        if retry_after_s is not None:
            self.headers["retry-after"] = retry_after(retry_after_s)

    def body(self) -> dict:
        return openai_error(self.status, self.message, type=self.type, code=self.code,
                            param=self.param)

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)

    def sse_event(self) -> bytes:
        """The error as a last server-sent event, for a stream already under way."""
        return b"data: " + json.dumps(self.body()).encode() + b"\n\n"
