"""Every domain error maps to one HTTP status here, with a message that says what to fix."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from bandit_router import metrics
from bandit_router.catalog import CatalogError
from bandit_router.routing import BudgetExhausted, NoModels, RoutingError
from bandit_router.store.errors import Conflict, NotFound

log = logging.getLogger(__name__)


_OPENAI_PATHS = ("/v1/chat/completions",)
_OPENAI_TYPES = {400: "invalid_request_error", 401: "authentication_error",
                 403: "permission_error", 404: "not_found_error", 409: "invalid_request_error",
                 413: "invalid_request_error", 422: "invalid_request_error",
                 429: "rate_limit_error"}


def _reply(request: Request, status_code: int, content: dict, headers: dict | None = None
           ) -> JSONResponse:
    """JSON error; on the OpenAI-compatible paths in OpenAI's ``{"error": {...}}`` shape so
    that the official SDKs raise their usual exceptions with our message."""
    if request.url.path.startswith(_OPENAI_PATHS):
        content = {"error": {"message": content["detail"],
                             "type": _OPENAI_TYPES.get(status_code, "api_error"), "code": None}}
    return JSONResponse(status_code=status_code, content=content, headers=headers)


def _body(message: str, **extra) -> dict:
    return {"detail": message, **extra}


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
        return _reply(request, status_code=422, content=_body(f"invalid request: {summary}",
                                                           errors=errors))

    @app.exception_handler(CatalogError)
    async def _bad_model(request: Request, exc: CatalogError):
        return _reply(request, status_code=422, content=_body(str(exc)))

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound):
        return _reply(request, status_code=404, content=_body(str(exc)))

    @app.exception_handler(Conflict)
    async def _conflict(request: Request, exc: Conflict):
        return _reply(request, status_code=409, content=_body(str(exc)))

    @app.exception_handler(RoutingError)
    async def _routing(request: Request, exc: RoutingError):
        return _reply(request, status_code=422, content=_body(str(exc)))

    @app.exception_handler(BudgetExhausted)
    async def _budget(request: Request, exc: BudgetExhausted):
        return _reply(request, status_code=429, content=_body(str(exc)),
                            headers={"Retry-After": str(max(1, int(exc.retry_after_s + 0.999)))})

    @app.exception_handler(NoModels)
    async def _no_models(request: Request, exc: NoModels):
        return _reply(request, status_code=503, content=_body(str(exc)),
                      headers={"Retry-After": "5"})

    @app.exception_handler(DataError)
    async def _bad_value(request: Request, exc: DataError):
        log.warning("database refused a value on %s %s", request.method, request.url.path)
        return _reply(request, status_code=422, content=_body(
            "a value in the request cannot be stored (check text for control characters "
            "and numbers for range); nothing was stored"))

    @app.exception_handler(OperationalError)
    @app.exception_handler(DBAPIError)
    async def _db_down(request: Request, exc: DBAPIError):
        metrics.DB_ERRORS.labels("api").inc()
        log.error("database error on %s %s: %s", request.method, request.url.path,
                  type(exc.orig).__name__ if exc.orig is not None else type(exc).__name__)
        return JSONResponse(
            status_code=503, headers={"Retry-After": "2"},
            content=_body("the database is unavailable; nothing was stored, retry later"),
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        detail = str(exc.detail)
        if exc.status_code == 400 and detail == "There was an error parsing the body":
            detail = ("the body could not be parsed: send UTF-8 encoded JSON, nested at most a "
                      "few hundred levels deep, with integers of at most 4300 digits")
        return _reply(request, status_code=exc.status_code, content=_body(detail),
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _reply(request, status_code=500, content=_body(
            "internal error; nothing was acknowledged, so the request can be retried"))
