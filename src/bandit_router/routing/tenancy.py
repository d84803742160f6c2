"""What each process knows about its tenants: budget, latency SLA, paced λ, trust.

A :class:`TenantState` is part of the process's runtime snapshot (``routing.Runtime``): built
by the sync job (and at once after a change made through this process) and never edited; the
authoritative numbers live in the database and reservations are atomic there.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, TypeVar

from bandit_router.store.schema import TenantRow

if TYPE_CHECKING:
    from bandit_router.routing.router import RouteRequest

T = TypeVar("T")
_PLAIN: dict[type, int | None] = {}  # by dataclass: its number of fields, None if not plain


def replaced(obj: T, **changes) -> T:
    """``dataclasses.replace(obj, **changes)``, the same object, made by copying ``obj``'s
    attributes for a *plain* dataclass: every field set by ``__init__``, no
    ``__post_init__``, attributes in ``__dict__`` and nothing else there. ``replace`` reads
    ``fields()`` and calls ``__init__`` with every field, which for a frozen dataclass sets
    each through ``object.__setattr__``: ~1.5 % of a route's CPU for ``RouteRequest``'s 12
    fields, once per request. ``changes`` must name fields (as the callers here do)."""
    cls = type(obj)
    n = _PLAIN.get(cls, -1)
    if n == -1:
        fs = fields(cls)  # (raises for an object that is not a dataclass, as replace does)
        params = getattr(cls, "__dataclass_params__", None)
        n = _PLAIN[cls] = (len(fs) if all(f.init for f in fs) and params is not None
                           and params.init and not hasattr(cls, "__post_init__")
                           and "__slots__" not in cls.__dict__ else None)
    attrs = getattr(obj, "__dict__", None)
    if n is None or attrs is None or len(attrs) != n:
        return replace(obj, **changes)
    new = object.__new__(cls)
    state = new.__dict__
    state.update(attrs)
    state.update(changes)
    return new


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
        return replaced(request, max_latency_ms=min(limits) if limits else None,
                        cost_weight=cost_weight, tenant_id=self.id)
