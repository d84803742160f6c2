"""The /metrics endpoint (request ids and timing: api/edge.py)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from bandit_router import metrics
from bandit_router.api.deps import ServiceDep


router = APIRouter(tags=["observability"])


@router.get("/metrics", include_in_schema=False)
def prometheus_metrics(service: ServiceDep) -> Response:
    posterior = service.router.posterior
    metrics.POLICY_VERSION.set(posterior.version)
    metrics.POLICY_CREATED.set(posterior.stats.t)
    metrics.POSTERIOR_LAG.set(service.staleness()["lag_s"])
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)
