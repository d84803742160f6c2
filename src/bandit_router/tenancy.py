"""What each process knows about its tenants: budget, latency SLA, paced λ, spend so far.

Refreshed by the sync job (and at once after a change made through this process); the
authoritative numbers live in the database and reservations are atomic there.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from bandit_router.routing import RouteRequest
from bandit_router.store.schema import TenantRow


@dataclass(frozen=True)
class Budget:
    period: str
    limit_usd: float
    on_exhausted: str


@dataclass
class TenantState:
    id: str
    name: str
    p95_latency_ms: float | None
    budget: Budget | None
    cost_weight: float | None = None  # paced λ; None until the pacer has run
    committed_usd: float = 0.0  # spend + reservations in the current period, as last read
    trust_reported_cost: bool = False  # charge the app's reported cost even when lower

    @classmethod
    def from_row(cls, row: TenantRow, previous: "TenantState | None" = None) -> "TenantState":
        budget = None
        if row.budget_period and row.budget_limit_usd is not None:
            budget = Budget(row.budget_period, row.budget_limit_usd,
                            row.budget_on_exhausted or "cheapest")
        state = cls(row.id, row.name, row.p95_latency_ms, budget,
                    trust_reported_cost=bool(row.trust_reported_cost))
        if previous is not None and previous.budget == budget:
            state.cost_weight = previous.cost_weight
            state.committed_usd = previous.committed_usd
        return state


def tenant_request(request: RouteRequest, tenant: TenantState) -> RouteRequest:
    """The request as routed for this tenant: the stricter of the request's and the tenant's
    latency limit, and the tenant's paced cost weight unless the request sets its own."""
    limits = [v for v in (request.max_latency_ms, tenant.p95_latency_ms) if v is not None]
    cost_weight = request.cost_weight
    if cost_weight is None and tenant.budget is not None:
        cost_weight = tenant.cost_weight
    return replace(request, max_latency_ms=min(limits) if limits else None,
                   cost_weight=cost_weight)
