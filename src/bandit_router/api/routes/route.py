"""POST /v1/route — which model should answer this request."""

from __future__ import annotations

import logging

from fastapi import HTTPException
from starlette.concurrency import run_in_threadpool

from bandit_router.api import cascade_route
from bandit_router.api.deps import CallerDep, ServiceDep
from bandit_router.api.hotpath import HotRoute
from bandit_router.api.schemas import RouteIn, RouteOut
from bandit_router.features import prompt_from_messages
from bandit_router.routing import RouteDecision, RouteRequest
from bandit_router.routing.tenancy import replaced
from bandit_router.service import Service
from bandit_router.store.tenants import Principal

# Longer prompts are featurised in the thread pool so that one cannot stall the event loop.
_INLINE_CHARS = 32_768
log = logging.getLogger("bandit_router.decisions")


async def decide(body: RouteIn, service: ServiceDep, caller: CallerDep) -> RouteOut:
    """The route for a validated request. FastAPI reads the call's documentation from this
    signature (``ROUTE``); ``route`` serves it, answering the same JSON."""
    return RouteOut.of(*await _decided(body, service, caller))


async def _decided(body: RouteIn, service: Service,
                   caller: Principal) -> tuple[RouteDecision, dict | None]:
    """The decision for a validated request, and its cascade's part of the answer."""
    prompt = body.prompt if body.prompt is not None else prompt_from_messages(
        m.model_dump() for m in body.messages
    )
    limit = service.settings.max_prompt_chars
    if len(prompt) > limit:
        raise HTTPException(413, f"the prompt has {len(prompt)} characters; the limit is {limit} "
                                 "(BANDIT_ROUTER_MAX_PROMPT_CHARS)")
    candidates, metadata, cascade = (tuple(body.candidates) if body.candidates else None,
                                     body.metadata, None)
    if body.cascade is not None or body.escalate_from is not None:
        candidates, metadata, cascade = await run_in_threadpool(
            cascade_route.plan, service, body, caller.tenant_id)
    request = _request(body, prompt, candidates)
    batched = cascade is None  # a cascade's next step reads this decision back at once
    if batched and service.routes_in_memory(caller.tenant_id) and len(prompt) <= _INLINE_CHARS:
        # No I/O (the decision is logged by the background writer), ~0.1 ms of numpy:
        # cheaper on the event loop than a hop to the thread pool and back.
        d = service.route(request, tenant_id=caller.tenant_id, metadata=metadata,
                          batched=batched)
    else:
        d = await run_in_threadpool(service.route, request, tenant_id=caller.tenant_id,
                                    metadata=metadata, batched=batched)
    if log.isEnabledFor(logging.INFO):
        log.info("decision", extra={"decision_id": d.decision_id, "tenant": caller.tenant_id,
                                    "model": d.model, "policy_version": d.policy_version,
                                    "propensity": round(d.propensity, 6)})
    return d, None if cascade is None else {"name": cascade.name,
                                            "next": list(cascade.after(d.model))}


# RouteRequest's defaults, copied for each request with its body's values (tenancy.replaced):
# RouteRequest's frozen __init__ (12 object.__setattr__ calls) cost ~2 µs a route. Every
# field with a default_factory (``features``) is set from the body, never shared.
_DEFAULTS = RouteRequest(prompt="")


def _request(body: RouteIn, prompt: str, candidates: tuple[str, ...] | None) -> RouteRequest:
    """``RouteRequest(prompt=prompt, features=body.features, candidates=candidates, ...)``:
    the same object, made by copying ``_DEFAULTS``."""
    return replaced(_DEFAULTS, prompt=prompt, features=body.features, candidates=candidates,
                    expected_output_tokens=body.expected_output_tokens,
                    input_tokens=body.input_tokens, max_latency_ms=body.max_latency_ms,
                    metadata=body.metadata)


async def route(body: RouteIn, service: Service, caller: Principal) -> tuple[int, bytes]:
    return 200, RouteOut.json_of(*await _decided(body, service, caller))


# Served by `route`, documented by FastAPI from `decide`'s signature.
ROUTE = HotRoute("/v1/route", route, declared=decide, response_model=RouteOut, status_code=200,
                 tags=["routing"], responses={
    413: {"description": "the body or the prompt is over its limit "
                         "(BANDIT_ROUTER_MAX_BODY_BYTES, BANDIT_ROUTER_MAX_PROMPT_CHARS)"},
    422: {"description": "invalid input (each field named), or no candidate model can take the "
                         "request (e.g. no context window holds the prompt)"},
    429: {"description": "the tenant's budget is used up (`on_exhausted: reject`) or the key's "
                         "rate limit is hit; retry after `Retry-After` seconds"},
    503: {"description": "no model is registered, or the database is unavailable; retry after "
                         "`Retry-After`"}})
