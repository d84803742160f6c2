"""POST /v1/route — which model should answer this request."""

from __future__ import annotations

from datetime import datetime, timezone

from fastapi import APIRouter, HTTPException

from bandit_router.api.deps import ServiceDep, SessionDep
from bandit_router.api.schemas import RouteIn, RouteOut
from bandit_router.features import prompt_from_messages
from bandit_router.routing import RouteRequest
from bandit_router.store.codec import encode_features
from bandit_router.store.decisions import record_decision
from bandit_router.store.schema import DecisionRow

router = APIRouter(tags=["routing"])


@router.post("/v1/route", response_model=RouteOut, status_code=200)
def route(body: RouteIn, service: ServiceDep, session: SessionDep) -> RouteOut:
    prompt = body.prompt if body.prompt is not None else prompt_from_messages(
        m.model_dump() for m in body.messages
    )
    limit = service.settings.max_prompt_chars
    if len(prompt) > limit:
        raise HTTPException(413, f"the prompt has {len(prompt)} characters; the limit is {limit} "
                                 "(BANDIT_ROUTER_MAX_PROMPT_CHARS)")
    d = service.router.decide(RouteRequest(
        prompt=prompt, features=body.features,
        candidates=tuple(body.candidates) if body.candidates else None,
        expected_output_tokens=body.expected_output_tokens, input_tokens=body.input_tokens,
    ))
    with session.begin():
        record_decision(session, DecisionRow(
            id=d.decision_id, tenant_id=None, created_at=datetime.now(timezone.utc),
            model_id=d.model, propensity=d.propensity, policy=d.policy,
            policy_version=d.policy_version, cost_weight=d.cost_weight,
            features=encode_features(d.features), candidates=d.candidates,
            input_tokens_est=d.input_tokens, output_tokens_est=d.output_tokens,
            estimated_cost_usd=d.estimated_cost_usd, scores=d.explanation["models"],
            request_metadata=body.metadata,
        ))
    return RouteOut(decision_id=d.decision_id, model=d.model, fallbacks=d.fallbacks,
                    propensity=d.propensity, policy_version=d.policy_version,
                    estimated_cost_usd=d.estimated_cost_usd, explanation=d.explanation)
