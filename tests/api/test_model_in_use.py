"""A model that a rule or cascade names cannot be deleted, nor lose a tag a rule needs, from
under it: the change is a 409 naming every rule and cascade in the way (real Postgres)."""

from __future__ import annotations

import pytest

from tests.api.test_rules import FREE_CHEAP, LINE_UP, put_rules
from tests.conftest import ADMIN, route


@pytest.fixture
def app(make_client, pg_url):
    return make_client(pg_url, LINE_UP)


def model_ids(app) -> set[str]:
    return {m["id"] for m in app.get("/v1/models").json()["models"]}


def test_deleting_a_model_a_pin_or_cascade_names_is_a_409_naming_them(app):
    assert put_rules(app, {"rules": [{"name": "contracts-frontier", "pin": "large",
                                      "when": {"feature": "contracts"}}]},
                     tenant="acme").status_code == 200
    r = app.put("/v1/cascades/cheap-first", headers=ADMIN,
                json={"models": ["small", "large"], "checks": {"json": True}})
    assert r.status_code == 200, r.text

    r = app.delete("/v1/models/large", headers=ADMIN)
    assert r.status_code == 409, r.text
    detail = r.json()["detail"]
    assert "rule 'contracts-frontier' (tenant acme) names model large" in detail
    assert "cascade 'cheap-first' names model large" in detail
    assert "large" in model_ids(app)
    d = route(app, "review this clause", metadata={"feature": "contracts"})
    assert d["model"] == "large"  # the pin still works

    assert put_rules(app, {"rules": []}, tenant="acme").status_code == 200
    assert app.delete("/v1/cascades/cheap-first", headers=ADMIN).status_code == 204
    assert app.delete("/v1/models/large", headers=ADMIN).status_code == 204
    assert "large" not in model_ids(app)


def test_a_model_may_go_while_another_carries_the_tag_a_rule_names_but_not_the_last(app):
    put_rules(app, {"rules": [FREE_CHEAP], "budget_fallback": {"models": ["medium"]}})
    assert app.delete("/v1/models/small", headers=ADMIN).status_code == 204  # mini is cheap too
    assert {route(app, f"q {i}", metadata={"plan": "free"})["model"] for i in range(5)} == {"mini"}

    r = app.delete("/v1/models/mini", headers=ADMIN)
    assert r.status_code == 409
    assert "rule 'free-plan-cheap' (global) names tag cheap" in r.json()["detail"]
    r = app.patch("/v1/models/mini", json={"tags": []}, headers=ADMIN)
    assert r.status_code == 409 and "tag cheap" in r.json()["detail"]
    r = app.put("/v1/models/mini", headers=ADMIN, json={
        "input_price_per_mtok": 0.2, "output_price_per_mtok": 0.4, "context_window": 100_000})
    assert r.status_code == 409 and "tag cheap" in r.json()["detail"]
    assert app.get("/v1/models/mini").json()["tags"] == ["cheap"]

    r = app.delete("/v1/models/medium", headers=ADMIN)
    assert r.status_code == 409
    assert "the budget fallback line-up (global) names model medium" in r.json()["detail"]


def test_deleting_an_unknown_model_is_still_a_404(app):
    assert app.delete("/v1/models/ghost", headers=ADMIN).status_code == 404
