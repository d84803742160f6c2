"""Tenants, app keys, budgets, latency SLAs and usage (operator key; usage also by the tenant)."""

from __future__ import annotations

from datetime import datetime, timezone

from typing import Annotated

from fastapi import APIRouter, Path, Response

from bandit_router.api.deps import AdminDep, CallerDep, ServiceDep, SessionDep, check_tenant_access
from bandit_router.api.schemas import (
    BudgetIn,
    BudgetOut,
    FeedbackWindowIn,
    FeedbackWindowOut,
    IssuedKeyOut,
    KeyIn,
    KeyOut,
    SlaIn,
    TenantIn,
    TenantOut,
    TrustIn,
    UsageOut,
)
from bandit_router.policy.pacing import period_bounds
from bandit_router.store import missing, spend
from bandit_router.store import tenants as store
from bandit_router.routing.tenancy import TenantState

router = APIRouter(tags=["tenants"])

TenantPath = Annotated[str, Path(min_length=1, max_length=64,
                                 pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
KeyPath = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_]+$")]


def _out(row) -> TenantOut:
    state = TenantState.from_row(row)
    budget = state.budget and BudgetOut(**state.budget.__dict__)
    window = None
    if row.feedback_window_s is not None:
        window = FeedbackWindowOut(window_s=row.feedback_window_s,
                                   default_reward=row.default_reward,
                                   late_feedback=row.late_feedback or "reject")
    return TenantOut(id=row.id, name=row.name, p95_latency_ms=row.p95_latency_ms, budget=budget,
                     trust_reported_cost=state.trust_reported_cost, feedback_window=window)


@router.post("/v1/tenants", response_model=TenantOut, status_code=201,
             responses={409: {"description": "a tenant with this id exists already"}})
def create_tenant(body: TenantIn, _: AdminDep, service: ServiceDep, session: SessionDep):
    with session.begin():
        row = store.create_tenant(session, body.id, body.name)
        if body.p95_latency_ms is not None:
            store.set_latency_sla(session, row.id, body.p95_latency_ms)
        if body.feedback_window is not None:
            _set_window(session, row.id, body.feedback_window)
    service.sync_tenants()
    return _out(row)


def _set_window(session, tenant_id: str, body: FeedbackWindowIn):
    return missing.set_feedback_window(session, tenant_id, body.window_s, body.default_reward,
                                       body.late_feedback)


@router.put("/v1/tenants/{tenant_id}/feedback-window", response_model=TenantOut)
def put_feedback_window(tenant_id: TenantPath, body: FeedbackWindowIn, _: AdminDep,
                        service: ServiceDep, session: SessionDep):
    """Set (or with nulls switch off) the tenant's feedback window and default reward."""
    with session.begin():
        row = _set_window(session, tenant_id, body)
    service.sync_tenants()
    return _out(row)


@router.get("/v1/tenants")
def list_tenants(_: AdminDep, session: SessionDep) -> dict[str, list[TenantOut]]:
    return {"tenants": [_out(r) for r in store.list_tenants(session)]}


@router.get("/v1/tenants/{tenant_id}", response_model=TenantOut)
def get_tenant(tenant_id: TenantPath, caller: CallerDep, session: SessionDep):
    check_tenant_access(caller, tenant_id)
    return _out(store.get_tenant(session, tenant_id))


@router.post("/v1/tenants/{tenant_id}/keys", response_model=IssuedKeyOut, status_code=201)
def issue_key(tenant_id: TenantPath, _: AdminDep, session: SessionDep, body: KeyIn | None = None):
    with session.begin():
        key = store.issue_key(session, tenant_id, "app", body.name if body else None)
    return IssuedKeyOut(id=key.id, tenant_id=key.tenant_id, key=key.secret)


@router.get("/v1/tenants/{tenant_id}/keys")
def list_keys(tenant_id: TenantPath, _: AdminDep, session: SessionDep) -> dict[str, list[KeyOut]]:
    store.get_tenant(session, tenant_id)
    return {"keys": [KeyOut(id=k.id, tenant_id=k.tenant_id, name=k.name, prefix=k.prefix,
                            created_at=k.created_at.isoformat(), revoked=k.revoked_at is not None)
                     for k in store.list_keys(session, tenant_id)]}


@router.delete("/v1/keys/{key_id}", status_code=204)
def revoke_key(key_id: KeyPath, _: AdminDep, service: ServiceDep,
               session: SessionDep) -> Response:
    with session.begin():
        store.revoke_key(session, key_id)
    # Refused from the next request on here; by other processes within posterior_poll_s,
    # when their key cache looks again (service/auth.py).
    service.auth.forget(key_id)
    return Response(status_code=204)


@router.put("/v1/tenants/{tenant_id}/budget", response_model=TenantOut)
def put_budget(tenant_id: TenantPath, body: BudgetIn, _: AdminDep, service: ServiceDep,
               session: SessionDep):
    with session.begin():
        row = store.set_budget(session, tenant_id, body.period, body.limit_usd, body.on_exhausted)
        start, end = period_bounds(body.period, datetime.now(timezone.utc))
        spend.reconcile(session, tenant_id, start, end)  # count what was spent before the budget
    service.sync_tenants()
    service.sync()
    return _out(row)


@router.delete("/v1/tenants/{tenant_id}/budget", response_model=TenantOut)
def delete_budget(tenant_id: TenantPath, _: AdminDep, service: ServiceDep, session: SessionDep):
    with session.begin():
        row = store.set_budget(session, tenant_id, None, None, None)
    service.sync_tenants()
    return _out(row)


@router.put("/v1/tenants/{tenant_id}/sla", response_model=TenantOut)
def put_sla(tenant_id: TenantPath, body: SlaIn, _: AdminDep, service: ServiceDep, session: SessionDep):
    with session.begin():
        row = store.set_latency_sla(session, tenant_id, body.p95_latency_ms)
    service.sync_tenants()
    return _out(row)


@router.put("/v1/tenants/{tenant_id}/trust", response_model=TenantOut)
def put_trust(tenant_id: TenantPath, body: TrustIn, _: AdminDep, service: ServiceDep,
              session: SessionDep):
    """Whether feedback from this tenant's app may lower what a decision is charged below what
    the service measured (proxy) or estimated (routing); off by default."""
    with session.begin():
        row = store.set_trust_reported_cost(session, tenant_id, body.trust_reported_cost)
    service.sync_tenants()
    return _out(row)


@router.get("/v1/tenants/{tenant_id}/usage", response_model=UsageOut)
def usage(tenant_id: TenantPath, caller: CallerDep, service: ServiceDep, session: SessionDep):
    check_tenant_access(caller, tenant_id)
    row = store.get_tenant(session, tenant_id)
    state = service.tenants.get(tenant_id) or TenantState.from_row(row)
    period = state.budget.period if state.budget else "day"
    start, end = period_bounds(period, datetime.now(timezone.utc))
    models = spend.ledger(session, tenant_id, start, end)
    spent = sum(m.spent_usd for m in models)
    pending = sum(m.pending_usd for m in models)
    limit = state.budget.limit_usd if state.budget else None
    return UsageOut(
        tenant_id=tenant_id, period=state.budget.period if state.budget else None,
        period_start=start.isoformat(), period_end=end.isoformat(), spent_usd=spent,
        pending_usd=pending, committed_usd=spent + pending, limit_usd=limit,
        remaining_usd=None if limit is None else max(limit - spent - pending, 0.0),
        cost_weight=state.cost_weight if state.budget else service.settings.cost_weight,
        models=models,
    )
