"""Decide and log: every decision is recorded before anyone can give feedback on it, and a
budgeted tenant's decision reserves its estimated cost in the same transaction.

:func:`decision_row` is the one conversion of a decision to its ``decisions`` row, and the
background writer (``store.writer.DecisionWriter``) the one path that writes it: queued, or
committed in the next batch before the decision is answered (with its reservation).
"""

from __future__ import annotations

import concurrent.futures
from dataclasses import replace
from datetime import datetime, timezone
from typing import Mapping

from bandit_router.config import Settings
from bandit_router.store.decision_ids import BATCHED, COMMITTED, IdIssuer
from bandit_router.jobs.pacing import Paced
from bandit_router.policy.pacing import period_bounds
from bandit_router.routing import BudgetExhausted, RouteDecision, RouteRequest, Router
from bandit_router.store.codec import encode_features
from bandit_router.store.decisions import JsonText
from bandit_router.store.writer import Committed, DecisionWriter, Reservation, unavailable
from bandit_router.routing.tenancy import TenantState, replaced


def decision_row(decision: RouteDecision, tenant_id: str | None, metadata: dict | None,
                 budget_period_start: datetime | None = None) -> dict:
    """The ``decisions`` row of a decision, by column name. ``scores`` is the per-model
    explanation's JSON, serialised once for the row and the answer (``models_json``)."""
    return dict(
        id=decision.decision_id, tenant_id=tenant_id,
        created_at=datetime.now(timezone.utc), model_id=decision.model,
        propensity=decision.propensity, policy=decision.policy,
        policy_version=decision.policy_version, cost_weight=decision.cost_weight,
        features=encode_features(decision.features), candidates=decision.candidates,
        input_tokens_est=decision.input_tokens, output_tokens_est=decision.output_tokens,
        estimated_cost_usd=decision.estimated_cost_usd,
        scores=JsonText(decision.models_json.decode()), metadata=metadata,
        budget_period_start=budget_period_start,
    )


class DecisionLog:
    def __init__(self, router: Router, ids: IdIssuer, settings: Settings) -> None:
        self.router, self.ids, self.settings = router, ids, settings
        self.writer: DecisionWriter | None = None  # set when the service starts
        # Per budgeted tenant: (period start, its committed spend as last read). Only the
        # first guess of a reservation; the database's conditional update decides.
        self._committed: dict[str, tuple[datetime, float]] = {}

    def note_paced(self, paced: Mapping[str, Paced]) -> None:
        """The committed spend the pacer just read (sync job)."""
        for tenant_id, p in paced.items():
            self._committed[tenant_id] = (p.period_start, p.committed_usd)

    def in_memory(self, tenant_id: str | None) -> bool:
        """Whether ``route(..., batched=True)`` for this tenant does no I/O (no budget)."""
        tenant = self.router.runtime.tenants.get(tenant_id) if tenant_id is not None else None
        return (self.settings.decision_batching and self.writer is not None
                and (tenant is None or tenant.budget is None))

    def route(self, request: RouteRequest, *, tenant_id: str | None, metadata: dict | None,
              batched: bool) -> RouteDecision:
        """Decide and log the decision.

        With ``batched`` (and ``decision_batching`` on) a budget-free tenant's decision goes
        to the background writer and this returns at once; feedback for it is acknowledged
        only after it is committed. If the writer's buffer is full (a long database outage)
        the decision is still answered, marked ``logged=False``. Otherwise the decision is
        committed before this returns.

        For a tenant with a budget the decision's estimated cost is reserved atomically in the
        same transaction that logs it; if a concurrent request took the money first, the
        decision is made again with the exact remaining budget.
        """
        runtime = self.router.runtime  # one snapshot: tenant, posterior, line-up, rules
        tenant = runtime.tenants.get(tenant_id) if tenant_id is not None else None
        request = (tenant.request(request) if tenant is not None
                   else replaced(request, tenant_id=tenant_id))  # whose rules apply (rules.py)
        if tenant is None or tenant.budget is None:
            writer = self.writer
            if batched and writer is not None and self.settings.decision_batching:
                return self._decide_and_queue(writer, runtime, request, tenant_id, metadata)
            decision = self.router.decide(request, self.ids.next(COMMITTED), runtime)
            self._commit(decision_row(decision, tenant_id, metadata))
            return decision
        return self._decide_and_reserve(runtime, tenant, request, metadata)

    def _commit(self, row: dict, reservation: Reservation | None = None) -> Committed:
        """Write ``row`` in the writer's next batch and wait for its commit. Gives up with a
        database error (HTTP 503) after ``feedback_wait_s`` if the batch has not begun (then
        the row is never written); a batch that has begun is waited for: its outcome decides."""
        future = self.writer.commit(row, reservation)
        try:
            return future.result(timeout=self.settings.feedback_wait_s)
        except concurrent.futures.TimeoutError:
            if future.cancel():
                raise unavailable(TimeoutError(
                    f"the decision log did not begin within {self.settings.feedback_wait_s:g} s"
                )) from None
            return future.result()

    def _decide_and_queue(self, writer: DecisionWriter, runtime, request: RouteRequest,
                          tenant_id: str | None, metadata: dict | None) -> RouteDecision:
        """Decide and queue the decision for the background writer, its id drawn in queue
        order (see ``decision_ids``: what lets another process tell in-flight from unknown).
        Deciding under the lock costs little: a decision is a fraction of a millisecond of
        mostly GIL-bound work, and the API makes most of them on its event loop's one thread."""
        with self.ids.lock:
            decision = self.router.decide(request, self.ids.next(BATCHED), runtime)
            queued = writer.submit(decision_row(decision, tenant_id, metadata))
        return decision if queued else replace(decision, logged=False)

    def _decide_and_reserve(self, runtime, tenant: TenantState, request: RouteRequest,
                            metadata: dict | None) -> RouteDecision:
        budget = tenant.budget
        now = datetime.now(timezone.utc)
        start, end = period_bounds(budget.period, now)
        known_start, committed = self._committed.get(tenant.id, (None, 0.0))
        if known_start != start:
            committed = 0.0
        for _ in range(3):
            decision = self.router.decide(replace(
                request, budget_remaining_usd=max(budget.limit_usd - committed, 0.0),
                on_exhausted=budget.on_exhausted,
                budget_retry_after_s=max((end - now).total_seconds(), 1.0)),
                self.ids.next(COMMITTED), runtime)
            limit = None if decision.budget_exhausted else budget.limit_usd
            done = self._commit(decision_row(decision, tenant.id, metadata, start), Reservation(
                tenant.id, start, decision.estimated_cost_usd, limit))
            if done.reserved:
                self._committed[tenant.id] = (start, committed + decision.estimated_cost_usd)
                return decision
            committed = done.committed_usd
        self._committed[tenant.id] = (start, committed)
        raise BudgetExhausted("the tenant's budget is being used up by concurrent requests; "
                              "retry shortly", 1.0)
