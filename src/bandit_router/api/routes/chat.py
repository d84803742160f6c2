"""POST /v1/chat/completions — the OpenAI-compatible front door: change a base URL, get routing.

Answers and errors are in OpenAI's format (errors: ``{"error": {"message", "type", "code"}}``)
so that OpenAI SDKs work unchanged; every forwarded answer carries the headers
``X-Bandit-Router-Decision-Id`` (post the reward to ``/v1/feedback`` with it) and
``X-Bandit-Router-Model``.

Served like ``/v1/route`` (:mod:`bandit_router.api.hotpath`): FastAPI documents the route from
``chat_completions``' signature, but a request is answered by :meth:`ChatRoute.serve` as a
plain ASGI app, without FastAPI's dependency solving. Measured on the proxy benchmark's
serving worker (py-spy ``--gil``, 2026-12-06): the solving was ~7 % of its CPU, and the
``get_proxy`` dependency, a plain ``def``, cost a hop to the thread pool and back on every
call. The order and the words stay FastAPI's: the key is checked (401, 429) before the body
is read.
"""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from bandit_router.api.deps import CallerDep, principal_of_header
from bandit_router.features import prompt_from_messages
from bandit_router.proxy.errors import ProxyError
from bandit_router.routing.cascades import CASCADE_PREFIX
from bandit_router.proxy.cascade import complete_cascade
from bandit_router.proxy.forward import Proxy
from bandit_router.store.tenants import Principal


@asynccontextmanager
async def _lifespan(app: FastAPI):
    app.state.proxy = Proxy(app.state.service)
    try:
        yield
    finally:
        await app.state.proxy.aclose()


# Holds the proxy's lifespan only; the route is ``CHAT``, first in the app's routing table.
router = APIRouter(tags=["proxy"], lifespan=_lifespan)


class ChatCompletionIn(BaseModel):
    """The fields the proxy reads; every other field is forwarded untouched."""

    model_config = ConfigDict(extra="allow")
    model: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        description='"auto", a registered model id, a route group "group:<tag>", or a '
                    'cascade "cascade:<name>"')
    messages: list[dict[str, Any]] = Field(min_length=1, max_length=10_000)
    stream: bool | None = None
    stream_options: dict[str, Any] | None = None
    max_tokens: int | None = Field(None, ge=0)
    max_completion_tokens: int | None = Field(None, ge=0)


# Deeper bodies are refused before anything walks them (validation, the prompt's text, the
# JSON re-encoded for the upstream): Python's recursion would fail on them half-way.
MAX_JSON_DEPTH = 64


def _depth(value: Any) -> int:
    """How deeply ``value`` nests lists and objects, counted without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            if level <= MAX_JSON_DEPTH:
                stack.extend((v, level + 1) for v in (item.values() if isinstance(item, dict)
                                                      else item))
    return deepest


def _parse(raw: bytes, max_prompt_chars: int) -> dict[str, Any]:
    too_deep = False
    try:
        body = json.loads(raw)
    except RecursionError:
        too_deep = True
    except ValueError as exc:
        raise ProxyError(400, f"the body is not valid JSON: {exc}") from None
    if too_deep or _depth(body) > MAX_JSON_DEPTH:
        raise ProxyError(400, f"the body nests objects or arrays more than {MAX_JSON_DEPTH} "
                              "levels deep; an OpenAI chat completion request needs far fewer")
    if not isinstance(body, dict):
        raise ProxyError(400, "the body must be a JSON object (an OpenAI chat completion request)")
    try:
        ChatCompletionIn.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ProxyError(400, f"invalid request: {where}: {first['msg']}", param=where) from None
    n = len(prompt_from_messages(body["messages"]))
    if n > max_prompt_chars:
        raise ProxyError(413, f"the messages have {n} characters; the limit is {max_prompt_chars} "
                              "(BANDIT_ROUTER_MAX_PROMPT_CHARS)", param="messages")
    return body


async def chat_completions(request: Request, caller: CallerDep) -> Response:
    """The documented signature of ``CHAT`` (FastAPI reads the key from it); requests are
    served by :meth:`ChatRoute.serve`, which calls :func:`answer`."""
    return await answer(request, caller)


async def answer(request: Request, caller: Principal) -> Response:
    """The answer to one chat completion request from ``caller`` (a checked key)."""
    state = request.app.state
    # Decisions belong to the caller's tenant (none for the operator key), so that the app
    # can post their rewards and its budget pays for them.
    try:
        body = _parse(await request.body(), state.service.settings.max_prompt_chars)
        if body["model"].startswith(CASCADE_PREFIX):
            return await complete_cascade(state.proxy, body, tenant_id=caller.tenant_id)
        return await state.proxy.complete(body, tenant_id=caller.tenant_id)
    except ProxyError as exc:
        return exc.response()


class ChatRoute(APIRoute):
    """``POST /v1/chat/completions``, documented by FastAPI, served as a plain ASGI app."""

    def __init__(self, path: str, **kwargs: Any) -> None:
        super().__init__(path, chat_completions, methods=["POST"], **kwargs)
        self.app = self.serve

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)
        state = request.app.state
        caller = await principal_of_header(request.headers.get("authorization"),
                                           state.service, state.rate_limiter)
        response = await answer(request, caller)
        await response(scope, receive, send)


CHAT = ChatRoute(
    "/v1/chat/completions", tags=["proxy"],
    openapi_extra={"requestBody": {"content": {"application/json": {
        "schema": ChatCompletionIn.model_json_schema()}}, "required": True}},
    responses={200: {"description": "the upstream's answer (JSON, or SSE with stream: true)"},
               404: {"description": "unknown model or route group"},
               429: {"description": "every model tried is rate-limited (Retry-After)"},
               502: {"description": "no model answered"},
               503: {"description": "every model is in cooldown (Retry-After)"}},
)
