"""POST /v1/feedback — the outcome of a decision. A 2xx means the row is committed."""

from __future__ import annotations

import logging

from pydantic_core import to_json

from bandit_router import metrics
from bandit_router.api.deps import CallerDep, ServiceDep
from bandit_router.api.hotpath import HotRoute
from bandit_router.api.schemas import FeedbackIn, FeedbackOut
from bandit_router.service import Service
from bandit_router.store.decisions import Outcome
from bandit_router.store.errors import Conflict, NotFound
from bandit_router.store.tenants import Principal

log = logging.getLogger("bandit_router.feedback")
# The answer's HTTP status by FeedbackOut.status: a new row, or an identical repeat.
STATUS_CODE = {"recorded": 201, "duplicate": 200}


async def record(body: FeedbackIn, service: ServiceDep, caller: CallerDep) -> FeedbackOut:
    """Store a validated outcome; returns only once it is committed; its ``status`` gives the
    HTTP status by ``STATUS_CODE``. FastAPI reads the call's documentation from this
    signature (``FEEDBACK``); ``feedback`` serves it, answering the same JSON."""
    feedback_id, status = await _recorded(body, service, caller)
    return FeedbackOut(decision_id=body.decision_id, status=status, feedback_id=feedback_id)


async def _recorded(body: FeedbackIn, service: Service, caller: Principal) -> tuple[int, str]:
    """(feedback id, ``FeedbackOut.status``), once the row is committed."""
    outcome = Outcome(reward=body.reward, input_tokens=body.input_tokens,
                      output_tokens=body.output_tokens, cost_usd=body.cost_usd,
                      latency_ms=body.latency_ms, error=body.error)
    # An app key sees only its tenant's decisions: another tenant's decision is a 404.
    tenant = caller.tenant_id or "-"
    try:
        feedback_id, created = await service.feedback_async(body.decision_id, outcome,
                                                            tenant_id=caller.tenant_id)
    except (Conflict, NotFound) as exc:
        metrics.child(metrics.FEEDBACK, tenant, "conflict" if isinstance(exc, Conflict) else
                      "not_found").inc()
        raise
    status = "recorded" if created else "duplicate"
    metrics.child(metrics.FEEDBACK, tenant, status).inc()
    if log.isEnabledFor(logging.INFO):
        log.info("feedback", extra={"decision_id": body.decision_id, "tenant": caller.tenant_id,
                                    "reward": body.reward, "status": status})
    # service.feedback returns only after the commit: only now may we acknowledge.
    return feedback_id, status


async def feedback(body: FeedbackIn, service: Service, caller: Principal) -> tuple[int, bytes]:
    feedback_id, status = await _recorded(body, service, caller)
    # FeedbackOut's JSON (its fields in order), without building the model.
    return STATUS_CODE[status], to_json({"decision_id": body.decision_id, "status": status,
                                         "feedback_id": int(feedback_id)})


# Served by `feedback`, documented by FastAPI from `record`'s signature.
FEEDBACK = HotRoute(
    "/v1/feedback", feedback, declared=record, response_model=FeedbackOut, status_code=201,
    tags=["routing"],
    responses={200: {"description": "identical repeat; nothing new stored"},
               404: {"description": "unknown decision, or expired (removed by retention)"},
               409: {"description": "feedback already recorded with other values, "
                                    "or the tenant's feedback window closed"},
               503: {"description": "the database is unavailable; retry later"}})
