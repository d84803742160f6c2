"""GET /v1/decisions/{id} — a decision, the scores that led to it, and what came of it."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Path
from sqlalchemy import select

from bandit_router.api.deps import CallerDep, ServiceDep
from bandit_router.store.decisions import get_decision, within
from bandit_router.store.schema import FeedbackRow, UsageRow

router = APIRouter(tags=["routing"])


DecisionPath = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


@router.get("/v1/decisions/{decision_id}")
async def decision(decision_id: DecisionPath, caller: CallerDep,
                   service: ServiceDep) -> dict[str, Any]:
    """Tenant-scoped: an app key sees its own tenant's decisions only (others are 404)."""
    # It may still be in this process's batch writer, or in another worker's: the rule
    # feedback follows (404 only when it cannot be on its way; else 503 after the wait).
    deadline = service.lookup.deadline()
    state = await service.desk.logged(decision_id, deadline)

    def find() -> dict[str, Any]:
        # A fresh snapshot on every look, bounded by the wait (a locked table: TimedOut)
        with service.sessions() as session, within(session, service.lookup.left(deadline)):
            return _answer(session, get_decision(session, decision_id, caller.tenant_id))

    return await service.lookup.until_found(lambda: asyncio.to_thread(find), decision_id,
                                            caller.tenant_id, state, deadline)


def _answer(session, d) -> dict[str, Any]:
    """The stored decision ``d`` with its feedback and the proxy's usage record, if any."""
    fb = session.scalar(select(FeedbackRow).where(FeedbackRow.decision_id == d.id))
    usage = session.get(UsageRow, d.id)
    return {
        "decision_id": d.id,
        "tenant_id": d.tenant_id,
        "created_at": d.created_at.isoformat(),
        "model": d.model_id,
        "propensity": d.propensity,
        "policy": d.policy,
        "policy_version": d.policy_version,
        "cost_weight": d.cost_weight,
        "candidates": d.candidates,
        "input_tokens_estimate": d.input_tokens_est,
        "output_tokens_estimate": d.output_tokens_est,
        "estimated_cost_usd": d.estimated_cost_usd,
        "scores": d.scores,
        "metadata": d.request_metadata,
        "feedback": None if fb is None else {
            "received_at": fb.received_at.isoformat(), "reward": fb.reward,
            "input_tokens": fb.input_tokens, "output_tokens": fb.output_tokens,
            "cost_usd": fb.cost_usd, "latency_ms": fb.latency_ms, "error": fb.error,
            "charged_usd": fb.charged_usd,
        },
        "usage": None if usage is None else {
            "model": usage.model_id, "status": usage.status, "latency_ms": usage.latency_ms,
            "input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens,
            "cost_usd": usage.cost_usd, "attempts": usage.attempts,
        },
    }
