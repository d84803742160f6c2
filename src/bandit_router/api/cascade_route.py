"""Cascades for apps that call models themselves: ``POST /v1/route`` with ``cascade`` (start a
chain) or ``escalate_from`` (the next model after a decision whose answer failed the app's
check). Each step is its own decision; ``metadata.cascade.escalated_from`` links them."""

from __future__ import annotations

from typing import Any

from bandit_router.api.schemas import RouteIn
from bandit_router.routing.cascades import Cascade
from bandit_router.routing import RoutingError
from bandit_router.service import Service
from bandit_router.store.decisions import get_decision


def plan(service: Service, body: RouteIn, tenant_id: str | None
         ) -> tuple[tuple[str, ...], dict[str, Any], Cascade]:
    """(candidates, decision metadata, cascade) of a cascade step; raises RoutingError (422)
    or NotFound (404: no such decision of this tenant)."""
    cascades = service.router.rules.cascades
    meta = dict(body.metadata or {})
    if body.candidates:
        raise RoutingError("give either `candidates` or `cascade`/`escalate_from`: a cascade "
                           "names its own models")
    if body.escalate_from is None:
        cascade = _named(cascades, body.cascade)
        meta["cascade"] = {"name": cascade.name, "escalated_from": None}
        start = cascade.models if cascade.start == "bandit" else cascade.models[:1]
        return tuple(start), meta, cascade
    service.wait_for_decision(body.escalate_from)
    with service.sessions() as s:
        row = get_decision(s, body.escalate_from, tenant_id)
        model, logged = row.model_id, (row.request_metadata or {}).get("cascade")
    if not isinstance(logged, dict) or "name" not in logged:
        raise RoutingError(f"decision {body.escalate_from!r} was not routed through a cascade; "
                           "route with `cascade` first")
    if body.cascade is not None and body.cascade != logged["name"]:
        raise RoutingError(f"decision {body.escalate_from!r} belongs to cascade "
                           f"{logged['name']!r}, not {body.cascade!r}")
    cascade = _named(cascades, logged["name"])
    rest = cascade.after(model)
    if not rest:
        raise RoutingError(f"cascade {cascade.name!r} ends at {model}: there is no model to "
                           "escalate to")
    meta["cascade"] = {"name": cascade.name, "escalated_from": body.escalate_from}
    return rest[:1], meta, cascade


def _named(cascades, name: str | None) -> Cascade:
    if name not in cascades:
        raise RoutingError(f"cascade {name!r} does not exist; defined: "
                           f"{', '.join(sorted(cascades)) or 'none'}")
    return cascades[name]
