"""In proxy mode the cost the proxy measured is what a decision is charged, at least: an app
reporting a lower cost_usd in its feedback cannot lower it (a higher one counts)."""

from __future__ import annotations

import pytest

from tests.proxy.conftest import decision, feedback, service_of, usage


def new_tenant(proxy, tenant_id: str) -> dict[str, str]:
    """An app key of a new tenant (the client's own headers carry the operator key)."""
    assert proxy.post("/v1/tenants", json={"id": tenant_id, "name": tenant_id}).status_code == 201
    return {"Authorization": "Bearer " + proxy.post(f"/v1/tenants/{tenant_id}/keys").json()["key"]}


@pytest.mark.parametrize("reported,expected", [(0.0, "measured"), (1.0, "reported")])
def test_the_proxys_measured_cost_wins_over_a_lower_reported_cost(proxy, reported, expected):
    app = new_tenant(proxy, "shop")
    r = proxy.post("/v1/chat/completions", headers=app,
                   json={"model": "model-b", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200, r.text
    decision_id = r.headers["x-bandit-router-decision-id"]
    measured = usage(service_of(proxy), decision_id).cost_usd
    assert measured == pytest.approx((12 * 10.0 + 4 * 30.0) / 1e6)
    fb = proxy.post("/v1/feedback", headers=app,
                    json={"decision_id": decision_id, "reward": 1, "cost_usd": reported})
    assert fb.status_code == 201, fb.text
    charged = feedback(service_of(proxy), decision_id).charged_usd
    assert charged == pytest.approx(measured if expected == "measured" else reported)


def test_a_failed_upstream_call_is_charged_nothing(proxy, upstreams):
    """The proxy's own failure feedback (cost 0) is the service's measurement, so it holds
    even below the routing estimate."""
    _, b = upstreams
    b.behaviour.status = 503
    app = new_tenant(proxy, "shop")
    r = proxy.post("/v1/chat/completions", headers=app,
                   json={"model": "model-b", "messages": [{"role": "user", "content": "hi"}]})
    first = usage(service_of(proxy), r.headers["x-bandit-router-decision-id"]).attempts[0]
    assert (first["model"], first["status"]) == ("model-b", 503)
    svc = service_of(proxy)
    assert decision(svc, first["decision_id"]).estimated_cost_usd > 0
    assert feedback(svc, first["decision_id"]).charged_usd == 0.0
