"""Operator routing control: rule sets (global and per tenant) and cascades.

The documents are validated by ``rules.py`` / ``cascades.py`` (an unknown key, model or tag
is a 422 naming it); see the README's "Rules and cascades" for their shape.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Response

from bandit_router.service import routing_config
from bandit_router.api.deps import AdminDep, CallerDep, ServiceDep, SessionDep, check_tenant_access
from bandit_router.api.routes.tenants import TenantPath
from bandit_router.routing.rules import EMPTY, GLOBAL
from bandit_router.store import tenants as tenant_store

router = APIRouter(tags=["rules"])
CascadePath = Annotated[str, Path(min_length=1, max_length=100,
                                  pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
_RULES_EXAMPLE = {"rules": [{"name": "free-plan-cheap", "when": {"plan": "free"},
                             "allow_tags": ["cheap"]}],
                  "budget_fallback": {"tags": ["cheap"]}}
_ERRORS = {422: {"description": "the document is invalid, or names a model or tag the line-up "
                                "does not have (the message says which)"}}


@router.get("/v1/rules")
def get_rules(_: AdminDep, service: ServiceDep) -> dict[str, Any]:
    book = service.router.rules
    return {"global": book.sets.get(GLOBAL, EMPTY).as_json(),
            "tenants": {k: v.as_json() for k, v in sorted(book.sets.items()) if k != GLOBAL}}


@router.put("/v1/rules", responses=_ERRORS)
def put_rules(_: AdminDep, service: ServiceDep,
              body: Annotated[dict[str, Any], Body(examples=[_RULES_EXAMPLE])]) -> dict[str, Any]:
    """Replace the global rule set (applies to every tenant, before the tenant's own)."""
    return routing_config.put_rule_set(service, GLOBAL, body).as_json()


@router.get("/v1/tenants/{tenant_id}/rules")
def get_tenant_rules(tenant_id: TenantPath, caller: CallerDep, service: ServiceDep,
                     session: SessionDep) -> dict[str, Any]:
    check_tenant_access(caller, tenant_id)
    tenant_store.get_tenant(session, tenant_id)
    return service.router.rules.sets.get(tenant_id, EMPTY).as_json()


@router.put("/v1/tenants/{tenant_id}/rules", responses={**_ERRORS, 404: {
    "description": "no such tenant"}})
def put_tenant_rules(tenant_id: TenantPath, _: AdminDep, service: ServiceDep, session: SessionDep,
                     body: Annotated[dict[str, Any], Body(examples=[_RULES_EXAMPLE])]
                     ) -> dict[str, Any]:
    """Replace this tenant's rule set (its rules apply after the global ones; its pins and
    budget fallback line-up take precedence over the global ones)."""
    tenant_store.get_tenant(session, tenant_id)
    session.rollback()
    return routing_config.put_rule_set(service, tenant_id, body).as_json()


@router.get("/v1/cascades")
def get_cascades(_: CallerDep, service: ServiceDep) -> dict[str, list[dict[str, Any]]]:
    return {"cascades": [c.as_json() for _, c in sorted(service.router.rules.cascades.items())]}


@router.put("/v1/cascades/{name}", responses=_ERRORS)
def put_cascade(name: CascadePath, _: AdminDep, service: ServiceDep,
                body: Annotated[dict[str, Any], Body(examples=[{
                    "models": ["small", "large"], "start": "first",
                    "checks": {"json": True, "not_refusal": True}}])]) -> dict[str, Any]:
    """Create or replace a cascade: models cheap → dear, the checks on each answer."""
    return routing_config.put_cascade(service, name, body).as_json()


@router.delete("/v1/cascades/{name}", status_code=204)
def delete_cascade(name: CascadePath, _: AdminDep, service: ServiceDep) -> Response:
    routing_config.delete_cascade(service, name)
    return Response(status_code=204)
