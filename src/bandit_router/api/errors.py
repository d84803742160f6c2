"""The app's exception handlers: every error is answered in the shape of its path, domain
errors as :mod:`bandit_router.http_errors` maps them, with a message that says what to fix."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError, DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from bandit_router import metrics
from bandit_router.http_errors import DOMAIN_ERRORS, error_body, problem_of

log = logging.getLogger(__name__)


def _reply(request: Request, status_code: int, message: str, headers: dict | None = None,
           **extra) -> JSONResponse:
    """The error in the shape of the request's path (see :mod:`bandit_router.http_errors`)."""
    return JSONResponse(status_code=status_code, headers=headers,
                        content=error_body(request.url.path, status_code, message, **extra))


def _location(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "body"


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        errors = []
        for e in exc.errors():
            where = _location(tuple(e.get("loc", ())))
            msg = str(e.get("msg", "invalid value")).removeprefix("Value error, ")
            if e.get("type") == "json_invalid":
                msg = "the body is not valid JSON: " + str(e.get("ctx", {}).get("error", msg))
            elif e.get("type") == "extra_forbidden":
                msg = "unknown field; remove it (see the OpenAPI schema at /docs)"
            errors.append({"field": where, "message": msg})
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        return _reply(request, 422, f"invalid request: {summary}", errors=errors)

    async def _domain(request: Request, exc: Exception):
        """Every domain error, as :func:`bandit_router.http_errors.problem_of` says."""
        problem = problem_of(exc)
        if problem is None:
            return await _unexpected(request, exc)
        if isinstance(exc, DataError):
            log.warning("database refused a value on %s %s", request.method, request.url.path)
        elif isinstance(exc, DBAPIError):
            metrics.DB_ERRORS.labels("api").inc()
            log.error("database error on %s %s: %s", request.method, request.url.path,
                      type(exc.orig).__name__ if exc.orig is not None else type(exc).__name__)
        path = request.url.path
        return JSONResponse(problem.body_on(path), status_code=problem.status_on(path),
                            headers=problem.headers())

    for cls in DOMAIN_ERRORS:
        app.add_exception_handler(cls, _domain)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        detail = str(exc.detail)
        if exc.status_code == 400 and detail == "There was an error parsing the body":
            detail = ("the body could not be parsed: send UTF-8 encoded JSON, nested at most a "
                      "few hundred levels deep, with integers of at most 4300 digits")
        return _reply(request, exc.status_code, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, exc: ClientDisconnect):
        # The caller hung up before its body was whole: nobody to answer, nothing wrong here.
        log.info("the client disconnected during %s %s", request.method, request.url.path)
        return Response(status_code=400)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _reply(request, 500,
                      "internal error; nothing was acknowledged, so the request can be retried")
