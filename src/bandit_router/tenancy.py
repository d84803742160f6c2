"""What each process knows about its tenants: budget, latency SLA, paced λ, spend so far.

Refreshed by the sync job (and at once after a change made through this process); the
authoritative numbers live in the database and reservations are atomic there.
"""

from __future__ import annotations

from dataclasses import dataclass

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

    @classmethod
    def from_row(cls, row: TenantRow, previous: "TenantState | None" = None) -> "TenantState":
        budget = None
        if row.budget_period and row.budget_limit_usd is not None:
            budget = Budget(row.budget_period, row.budget_limit_usd,
                            row.budget_on_exhausted or "cheapest")
        state = cls(row.id, row.name, row.p95_latency_ms, budget)
        if previous is not None and previous.budget == budget:
            state.cost_weight = previous.cost_weight
            state.committed_usd = previous.committed_usd
        return state
