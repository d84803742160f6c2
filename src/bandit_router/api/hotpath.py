"""``POST /v1/route`` and ``POST /v1/feedback``, the two calls made for every LLM request:
documented by FastAPI, served by Starlette's routing as plain ASGI apps.

Why: FastAPI's per-request machinery (matching through included routers, dependency
solving, response revalidation) costs more CPU than the decision itself (see "How the fast
paths work" in benchmarks/README.md).

A :class:`HotRoute` is declared to FastAPI like any route — its ``declared`` function's
signature names the body schema and the key (``CallerDep``), and ``response_model`` the
answer — so ``/openapi.json`` documents its body, answers and errors as for any route
(``api.openapi`` reads them from the declaration). A request is served the way FastAPI
would serve it, in FastAPI's order and with its words: the body is read and parsed once
(not JSON: 422; not parseable: 400), then the key is checked (401, 429), then the body is
validated (422). Every error is raised, and answered by the handlers ``api.errors``
registers, found by Starlette's own lookup (its ``ExceptionMiddleware``).

:class:`HotPaths` (put in place by :func:`install`) sends a POST to a hot route's path
straight from the app's ``Edge`` middleware to the route, past what lies between them in
FastAPI's stack for every request: an ``AsyncExitStack`` per request (for uploaded files;
these calls have none), the routing table's search, and ``ExceptionMiddleware``'s request
object and closures, built before anything fails; here the app's exception handlers are
looked up and called the same way, as Starlette does, only once something is raised.
"""

from __future__ import annotations

import email.message
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from bandit_router.api.deps import principal_of_header
from bandit_router.api.edge import RESPONSE_STARTED, Edge
from bandit_router.store.tenants import Principal

# Starlette's own handler lookup, as its ExceptionMiddleware uses it. These names are private
# (fastapi and starlette are not pinned): a Starlette without them serves the hot calls
# through the whole stack, as before HotPaths, instead of failing to start.
try:
    from starlette._exception_handler import _lookup_exception_handler
    from starlette._utils import is_async_callable
except ImportError:  # pragma: no cover - depends on the Starlette installed
    _lookup_exception_handler = is_async_callable = None

M = TypeVar("M", bound=BaseModel)
# FastAPI's words for a body it cannot parse, which api.errors rewords for the user.
_UNPARSEABLE = "There was an error parsing the body"
_JSON_TYPES = {"application/json", "application/json; charset=utf-8"}
_MISSING: Any = object()


Handler = Callable[[Any, Any, Principal], Awaitable[tuple[int, BaseModel | bytes]]]


class HotRoute(APIRoute):
    """A POST route documented by FastAPI from ``declared`` and served by ``handler`` as a
    plain ASGI app: no dependency solving, no response revalidation. ``handler(body,
    service, caller)`` gets the body validated against ``declared``'s body schema and returns
    the HTTP status and the answer (a model of ``response_model``, or its JSON)."""

    def __init__(self, path: str, handler: Handler, *, declared: Callable, **kwargs) -> None:
        super().__init__(path, declared, methods=["POST"], name=handler.__name__, **kwargs)
        self.description = kwargs.get("description", "")  # not declared's docstring
        self.schema = self.body_field.field_info.annotation
        self.handler = handler
        self.app = self.serve

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope["app"].state
        body, caller = await _body_and_caller(scope, receive, self.schema)
        status, out = await self.handler(body, state.service, caller)
        payload = out if type(out) is bytes else out.__pydantic_serializer__.to_json(out)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})


async def _body_and_caller(scope: Scope, receive: Receive,
                          schema: type[M]) -> tuple[M, Principal]:
    """The request's body validated against ``schema``, and who sends it."""
    headers = dict(reversed(scope["headers"]))  # the first of a repeated header, as Starlette
    raw = await _body(receive)
    content_type = headers.get(b"content-type")
    declared_json = bool(raw) and _is_json(content_type.decode("latin-1") if content_type
                                           else None)
    state = scope["app"].state
    if declared_json:
        # pydantic's own JSON parser, in one pass: where it accepts a body, json.loads and
        # validation below accept it too and make the same model (tests/api/test_hotpath.py
        # compares them over hostile bodies). Where it refuses one, the way below decides,
        # with FastAPI's words and in its order (parse error, then key, then validation).
        try:
            model = schema.model_validate_json(raw)
        except (ValueError, RecursionError):  # (a ValidationError is a ValueError)
            pass
        else:
            return model, await _caller(headers, state)
    value = _parsed(raw, declared_json)
    caller = await _caller(headers, state)
    if value is _MISSING:
        errors = [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
    else:
        try:
            return schema.model_validate(value, from_attributes=True), caller
        except ValidationError as exc:
            errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
    raise RequestValidationError(errors, body=value)


def _caller(headers: dict, state) -> Awaitable[Principal]:
    return principal_of_header(headers.get(b"authorization", b"").decode("latin-1"),
                               state.service, state.rate_limiter)


async def _body(receive: Receive) -> bytes:
    """The whole body."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client left; nobody reads the answer
            raise HTTPException(400, _UNPARSEABLE)  # FastAPI's, without an error log
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _parsed(raw: bytes, declared_json: bool) -> Any:
    """The body as JSON if it is declared JSON, else its bytes (which no schema accepts);
    ``_MISSING`` if it is empty."""
    if not raw:
        return _MISSING
    if not declared_json:
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error",
              "input": {}, "ctx": {"error": exc.msg}}], body=exc.doc) from None
    except (ValueError, RecursionError):  # not UTF-8, an integer too long, nested too deep
        raise HTTPException(400, _UNPARSEABLE) from None


def _is_json(content_type: str | None) -> bool:
    """As FastAPI decides: ``application/json`` or ``application/*+json``; none is not."""
    if content_type in _JSON_TYPES:  # the usual header, without parsing it
        return True
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json"))


class HotPaths:
    """Between ``Edge`` and FastAPI's ``ExceptionMiddleware``: a POST to a hot route's path
    is served by the route, its exceptions answered by ``rest``'s handlers as
    ``ExceptionMiddleware`` answers them; any other request goes on to ``rest``.

    Not taken (the whole stack serves the request instead) when FastAPI's OpenTelemetry
    instrumentation is on for the request: it names the request after the route the routing
    table matched."""

    def __init__(self, rest: ExceptionMiddleware, routes: list[HotRoute]) -> None:
        self.rest = rest
        self.routes = {r.path: r.serve for r in routes}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        serve = self.routes.get(scope["path"]) if scope["type"] == "http" else None
        if (serve is None or scope["method"] != "POST" or scope.get("root_path")
                or "fastapi.telemetry" in scope):
            await self.rest(scope, receive, send)
            return
        # What ExceptionMiddleware and its wrap_app_handling_exceptions do, in their order.
        # (Edge, right above, marks the scope once the answer has begun: no wrapper of
        # ``send`` here.)
        rest = self.rest
        scope["starlette.exception_handlers"] = (rest._exception_handlers,
                                                 rest._status_handlers)
        try:
            await serve(scope, receive, send)
        except Exception as exc:
            handler = None
            if isinstance(exc, HTTPException):
                handler = rest._status_handlers.get(exc.status_code)
            if handler is None:
                handler = _lookup_exception_handler(rest._exception_handlers, exc)
            if handler is None:
                raise exc
            if scope.get(RESPONSE_STARTED):
                raise RuntimeError("Caught handled exception, but response already started."
                                   ) from exc
            conn = Request(scope, receive, send)
            if is_async_callable(handler):
                response = await handler(conn, exc)
            else:
                response = await run_in_threadpool(handler, conn, exc)
            if response is not None:
                await response(scope, receive, send)
            exc.__traceback__ = None  # (as Starlette: a reused exception keeps no frames)


# How long FastAPI's answer to "is OpenTelemetry configured?" is reused (see _telemetry_check).
TELEMETRY_RECHECK_S = 1.0


def _telemetry_check(app) -> None:
    """Make FastAPI ask whether OpenTelemetry is configured at most once a second, not for
    every request.

    FastAPI (0.165) asks ``NativeTelemetry.enabled()`` on every request before anything else;
    with no provider configured that is three look-ups in ``os.environ`` that each raise and
    catch ``KeyError`` twice: ~33,000 instructions, 2 % of a route and 8 % of a feedback
    (benchmarks/README.md, 2026-12-07, sixth session). Its answer changes only when a
    provider is configured (an environment variable or ``set_*_provider``, normally before
    the app starts); with this, a provider configured while the app serves is used from at
    most ``TELEMETRY_RECHECK_S`` later instead of from the next request. The first request
    asks. A FastAPI without that check is left as it is."""
    native = getattr(app, "_native_telemetry", None)
    ask = getattr(native, "enabled", None)
    if not callable(ask):
        return
    answer, due = False, -1.0  # due: when to ask again (monotonic clock); asked at once

    def enabled() -> bool:
        nonlocal answer, due
        now = time.monotonic()
        if now >= due:
            answer, due = bool(ask()), now + TELEMETRY_RECHECK_S
        return answer

    native.enabled = enabled  # the instance's, in front of the class's method


def install(app, routes: list[HotRoute]) -> None:
    """Serve ``routes`` (already in ``app``'s routing table, which documents them and serves
    them when :class:`HotPaths` does not) from :class:`HotPaths`, put under the app's
    ``Edge`` middleware when FastAPI builds its middleware stack; and have FastAPI's
    OpenTelemetry question, asked before every request reaches the stack, asked once a
    second (:func:`_telemetry_check`)."""
    build = app.build_middleware_stack

    def build_middleware_stack() -> ASGIApp:
        stack = layer = build()
        while layer is not None and not isinstance(layer, Edge):
            layer = getattr(layer, "app", None)
        # A FastAPI whose stack is built otherwise serves them through the whole stack
        # (test_the_hot_paths_are_in_place says so for the versions installed).
        if (layer is not None and isinstance(layer.app, ExceptionMiddleware)
                and _lookup_exception_handler is not None
                and hasattr(layer.app, "_exception_handlers")
                and hasattr(layer.app, "_status_handlers")):
            layer.app = HotPaths(layer.app, routes)
        return stack

    app.build_middleware_stack = build_middleware_stack
    _telemetry_check(app)
