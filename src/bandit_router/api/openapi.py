"""The OpenAPI document behind ``/docs``: a bearer security scheme (Swagger UI's Authorize
button) on every operation that needs a key, and the errors each operation can answer.

What applies is read from each route's declaration, not listed again here: an operation
whose dependencies include ``get_principal`` needs a key (401, 429 from the per-key rate
limit, 503 while the database is down), ``require_admin`` the operator key (403); a body
can be too large (413); a path parameter can name nothing (404). Errors a route declares
itself (``responses=`` on its decorator, e.g. 409 on feedback) keep their own description.
Every error body is ``{"detail": "what to fix"}`` (``Error``), or OpenAI's shape on the
proxy.

``/docs`` itself is served by ``fastapi_offline`` from Swagger UI files shipped in that
package, so it works without network access.
"""

from __future__ import annotations

from typing import Any, Iterator

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from bandit_router.api.deps import get_principal, require_admin

SCHEME = "bearer"
_PROXY_PREFIX = "/v1/chat/completions"

ERROR_SCHEMA = {
    "title": "Error", "type": "object", "required": ["detail"],
    "properties": {
        "detail": {"type": "string", "description": "what went wrong and what to fix"},
        "errors": {"type": "array", "description": "422 only: each invalid field",
                   "items": {"type": "object", "properties": {
                       "field": {"type": "string"}, "message": {"type": "string"}}}},
    },
}
OPENAI_ERROR_SCHEMA = {
    "title": "OpenAIError", "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "properties": {
        "message": {"type": "string"}, "type": {"type": "string"},
        "code": {"type": ["string", "null"]}, "param": {"type": ["string", "null"]}}}},
}

GENERIC = {
    "400": "the body is not a valid chat completion request (OpenAI's error shape)",
    "401": "no key, a malformed `Authorization` header, or an invalid or revoked key: send "
           "`Authorization: Bearer <key>`",
    "403": "an app key on an operator endpoint: this needs the operator key",
    "404": "nothing with this id exists (or it belongs to another tenant)",
    "413": "the body is larger than BANDIT_ROUTER_MAX_BODY_BYTES",
    "422": "invalid input: `detail` sums it up, `errors` names each field",
    "429": "this key's rate limit (BANDIT_ROUTER_RATE_LIMIT_PER_S) is used up; retry after "
           "the `Retry-After` seconds",
    "503": "the database is unavailable; nothing was stored, retry after `Retry-After`",
}


def _api_routes(routes) -> Iterator[APIRoute]:
    """The app's API routes (newer FastAPI keeps an included router's routes inside it; this
    app includes its routers without a prefix)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _api_routes(inner.routes)


def _calls(route: APIRoute) -> set[Any]:
    """Every dependency callable of a route, however deeply nested."""
    seen, todo = set(), list(route.dependant.dependencies)
    while todo:
        dep = todo.pop()
        seen.add(dep.call)
        todo.extend(dep.dependencies)
    return seen


def _errors(route: APIRoute) -> list[str]:
    calls = _calls(route)
    codes = []
    if get_principal in calls:
        codes += ["401", "429", "503"]
    if require_admin in calls:
        codes.append("403")
    if route.dependant.path_params and 201 not in route.responses:  # a PUT that creates: no 404
        codes.append("404")
    if route.path.startswith(_PROXY_PREFIX):
        codes += ["400", "413"]  # the proxy answers a bad request as OpenAI does: 400
    elif route.dependant.body_params:
        codes += ["413", "422"]
    elif route.dependant.query_params or route.dependant.path_params:
        codes.append("422")
    return codes


def _document(operation: dict, route: APIRoute, codes: list[str]) -> None:
    schema = "OpenAIError" if route.path.startswith(_PROXY_PREFIX) else "Error"
    content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}
    responses = operation.setdefault("responses", {})
    declared = {str(c) for c in route.responses}
    for code in sorted(set(codes) | (declared - {"200", "201", "204"})):
        if not code.startswith(("4", "5")):
            continue
        entry = responses.setdefault(code, {})
        if code not in declared or not entry.get("description"):
            entry["description"] = GENERIC.get(code, entry.get("description", ""))
        entry["content"] = content  # replaces FastAPI's HTTPValidationError: ours differs
    if "401" in codes:
        operation["security"] = [{SCHEME: []}]


def build(app: FastAPI) -> dict:
    schema = get_openapi(title=app.title, version=app.version, description=app.description,
                         routes=app.routes)
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})[SCHEME] = {
        "type": "http", "scheme": "bearer",
        "description": "an app key (from `POST /v1/tenants/{id}/keys`) or the operator key"}
    schemas = components.setdefault("schemas", {})
    schemas["Error"], schemas["OpenAIError"] = ERROR_SCHEMA, OPENAI_ERROR_SCHEMA
    for route in _api_routes(app.routes):
        if not route.include_in_schema:
            continue
        for method in route.methods:
            operation = schema["paths"].get(route.path_format, {}).get(method.lower())
            if operation is not None:
                _document(operation, route, _errors(route))
    return schema


def install(app: FastAPI) -> None:
    """Serve :func:`build`'s document at ``/openapi.json`` (built once, on first request)."""
    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = build(app)
        return app.openapi_schema

    app.openapi = openapi
