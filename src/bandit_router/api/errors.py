"""Every domain error maps to one HTTP status here, with a message that says what to fix."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from bandit_router import metrics
from bandit_router.routing.catalog import CatalogError
from bandit_router.http_errors import DATABASE_UNAVAILABLE, error_body, retry_after
from bandit_router.routing import BudgetExhausted, NoModels, RoutingError
from bandit_router.store.errors import Conflict, NotFound
from bandit_router.store.writer import Unavailable

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

    @app.exception_handler(CatalogError)
    async def _bad_model(request: Request, exc: CatalogError):
        return _reply(request, 422, str(exc))

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound):
        return _reply(request, 404, str(exc))

    @app.exception_handler(Unavailable)
    async def _unavailable(request: Request, exc: Unavailable):
        return _reply(request, 503, str(exc),
                      headers={"Retry-After": retry_after(exc.retry_after_s)})

    @app.exception_handler(Conflict)
    async def _conflict(request: Request, exc: Conflict):
        return _reply(request, 409, str(exc))

    @app.exception_handler(RoutingError)
    async def _routing(request: Request, exc: RoutingError):
        return _reply(request, 422, str(exc))

    @app.exception_handler(BudgetExhausted)
    async def _budget(request: Request, exc: BudgetExhausted):
        return _reply(request, 429, str(exc),
                      headers={"Retry-After": retry_after(exc.retry_after_s)})

    @app.exception_handler(NoModels)
    async def _no_models(request: Request, exc: NoModels):
        return _reply(request, 503, str(exc), headers={"Retry-After": retry_after(5)})

    @app.exception_handler(DataError)
    async def _bad_value(request: Request, exc: DataError):
        log.warning("database refused a value on %s %s", request.method, request.url.path)
        return _reply(request, 422, "a value in the request cannot be stored (check text for "
                      "control characters and numbers for range); nothing was stored")

    @app.exception_handler(OperationalError)
    @app.exception_handler(DBAPIError)
    async def _db_down(request: Request, exc: DBAPIError):
        metrics.DB_ERRORS.labels("api").inc()
        log.error("database error on %s %s: %s", request.method, request.url.path,
                  type(exc.orig).__name__ if exc.orig is not None else type(exc).__name__)
        return _reply(request, 503, DATABASE_UNAVAILABLE, headers={"Retry-After": retry_after(2)})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        detail = str(exc.detail)
        if exc.status_code == 400 and detail == "There was an error parsing the body":
            detail = ("the body could not be parsed: send UTF-8 encoded JSON, nested at most a "
                      "few hundred levels deep, with integers of at most 4300 digits")
        return _reply(request, exc.status_code, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _reply(request, 500,
                      "internal error; nothing was acknowledged, so the request can be retried")
