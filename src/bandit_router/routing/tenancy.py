"""What each process knows about its tenants: budget, latency SLA, paced λ, trust.

A :class:`TenantState` is part of the process's runtime snapshot (``routing.Runtime``): built
by the sync job (and at once after a change made through this process) and never edited; the
authoritative numbers live in the database and reservations are atomic there.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from bandit_router.store.schema import TenantRow

if TYPE_CHECKING:
    from bandit_router.routing.router import RouteRequest


@dataclass(frozen=True)
class Budget:
    period: str
    limit_usd: float
    on_exhausted: str


@dataclass(frozen=True)
class TenantState:
    id: str
    name: str
    p95_latency_ms: float | None
    budget: Budget | None
    cost_weight: float | None = None  # paced λ; None until the pacer has run
    trust_reported_cost: bool = False  # charge the app's reported cost even when lower

    @classmethod
    def from_row(cls, row: TenantRow, previous: "TenantState | None" = None) -> "TenantState":
        """The tenant as stored; keeps ``previous``'s paced λ while its budget is unchanged."""
        budget = None
        if row.budget_period and row.budget_limit_usd is not None:
            budget = Budget(row.budget_period, row.budget_limit_usd,
                            row.budget_on_exhausted or "cheapest")
        keep = previous is not None and previous.budget == budget
        return cls(row.id, row.name, row.p95_latency_ms, budget,
                   cost_weight=previous.cost_weight if keep else None,
                   trust_reported_cost=bool(row.trust_reported_cost))

    def request(self, request: "RouteRequest") -> "RouteRequest":
        """``request`` as routed for this tenant: the stricter of the request's and the
        tenant's latency limit, and the tenant's paced cost weight unless the request sets
        its own."""
        limits = [v for v in (request.max_latency_ms, self.p95_latency_ms) if v is not None]
        cost_weight = request.cost_weight
        if cost_weight is None and self.budget is not None:
            cost_weight = self.cost_weight
        return replace(request, max_latency_ms=min(limits) if limits else None,
                       cost_weight=cost_weight, tenant_id=self.id)
