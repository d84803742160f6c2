"""Operator rules before the bandit, on the real Postgres: tiers by metadata, pins, the budget
fallback line-up, validation, and logs that keep what the policy chose from."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from bandit_router.routing.catalog import CatalogError, ModelSpec
from bandit_router.ope.sources import from_database
from bandit_router.routing.rules import GLOBAL, rule_set_from_mapping
from bandit_router.service.routing_config import put_rule_set
from bandit_router.store.decisions import get_decision
from bandit_router.store.locks import MODELS_LOCK, exclusive_xact_lock
from bandit_router.store.models import retire_model
from bandit_router.store.rules import save_rule_set
from tests.conftest import ADMIN, route

LINE_UP = [
    ModelSpec(id="small", input_price_per_mtok=0.1, output_price_per_mtok=0.2,
              context_window=100_000, tags=("cheap",)),
    ModelSpec(id="mini", input_price_per_mtok=0.2, output_price_per_mtok=0.4,
              context_window=100_000, tags=("cheap",)),
    ModelSpec(id="medium", input_price_per_mtok=1.0, output_price_per_mtok=3.0,
              context_window=100_000, tags=("general",)),
    ModelSpec(id="large", input_price_per_mtok=10.0, output_price_per_mtok=30.0,
              context_window=100_000, tags=("frontier",)),
]
FREE_CHEAP = {"name": "free-plan-cheap", "when": {"plan": "free"}, "allow_tags": ["cheap"]}
# Two models as a models file writes them: "small" tagged cheap, "large" untagged.
FILE_MODELS = '''
[[models]]
id = "small"
input_price_per_mtok = 0.1
output_price_per_mtok = 0.2
context_window = 1000
tags = ["cheap"]

[[models]]
id = "large"
input_price_per_mtok = 10
output_price_per_mtok = 30
context_window = 1000
'''


@pytest.fixture
def app(make_client, pg_url):
    return make_client(pg_url, LINE_UP)


def free_plan_rule_toml(name: str, tag: str) -> str:
    """A models file's global rule: free-plan requests only to models tagged ``tag``."""
    return f'\n[[rules]]\nname = "{name}"\nwhen = {{ plan = "free" }}\nallow_tags = ["{tag}"]\n'


def put_rules(client, body, tenant=None):
    path = f"/v1/tenants/{tenant}/rules" if tenant else "/v1/rules"
    return client.put(path, json=body, headers=ADMIN)


def test_a_rule_sends_free_plan_requests_only_to_cheap_models(app):
    assert put_rules(app, {"rules": [FREE_CHEAP]}).status_code == 200
    free = [route(app, f"question {i}", metadata={"plan": "free"}) for i in range(40)]
    assert {d["model"] for d in free} <= {"small", "mini"}
    assert len({d["model"] for d in free}) == 2  # the bandit still chooses among the cheap ones
    rules = free[0]["explanation"]["rules"]
    assert rules == [{"rule": "free-plan-cheap", "scope": "global",
                      "action": "allow only cheap", "removed": ["large", "medium"]}]
    assert "free-plan-cheap" in free[0]["explanation"]["models"]["large"]["reason"]
    paid = [route(app, f"question {i}", metadata={"plan": "pro"}) for i in range(60)]
    assert {d["model"] for d in paid} - {"small", "mini"}, "the rule must not touch other plans"
    assert paid[0]["explanation"]["rules"] == []


def test_the_log_keeps_what_the_policy_chose_from_so_off_policy_evaluation_sees_it(app):
    put_rules(app, {"rules": [FREE_CHEAP]})
    ids = [route(app, f"q {i}", metadata={"plan": "free"})["decision_id"] for i in range(10)]
    ids += [route(app, f"q {i}", metadata={"plan": "pro"})["decision_id"] for i in range(10)]
    for i in ids:
        app.post("/v1/feedback", json={"decision_id": i, "reward": 0.5})
    svc = app.app.state.service
    with svc.sessions() as s:
        row = get_decision(s, ids[0])
        assert {m: v["eligible"] for m, v in row.scores.items()} == {
            "small": True, "mini": True, "medium": False, "large": False}
        data, _ = from_database(s, prior=svc.prior)
    assert data.n == 20
    col = {m: j for j, m in enumerate(data.arms)}
    by_id = {i: k for k, i in enumerate(ids)}  # decisions come back in time order
    assert sorted(by_id.values()) == list(range(20))
    free_rows = data.eligible[:10]
    assert not free_rows[:, [col["medium"], col["large"]]].any()
    assert data.eligible[10:].all()
    # the logged propensity is the probability among the allowed models only
    assert np.all(data.propensities[:10] > 0.01) and np.all(data.propensities <= 1)


def test_a_pin_wins_over_allow_rules_and_the_bandit(app):
    put_rules(app, {"rules": [FREE_CHEAP]})
    r = put_rules(app, {"rules": [{"name": "contracts-frontier", "when": {"feature": "contracts"},
                                   "pin": "large"}]}, tenant="acme")
    assert r.status_code == 200, r.text
    for i in range(10):
        d = route(app, f"review clause {i}", metadata={"plan": "free", "feature": "contracts"})
        assert d["model"] == "large" and d["propensity"] == 1.0
    assert d["explanation"]["rules"][-1]["rule"] == "contracts-frontier"
    assert d["explanation"]["rules"][-1]["scope"] == "tenant acme"
    assert route(app, "x", metadata={"plan": "free"})["model"] in ("small", "mini")


def test_a_budget_exhausted_tenant_falls_back_to_its_fallback_line_up(app):
    put_rules(app, {"budget_fallback": {"models": ["medium"]}}, tenant="acme")
    r = app.put("/v1/tenants/acme/budget", headers=ADMIN,
                json={"period": "day", "limit_usd": 1e-9, "on_exhausted": "fallback"})
    assert r.status_code == 200, r.text
    for i in range(5):
        d = route(app, f"question {i}", expected_output_tokens=100)
        # not the cheapest model (small): the operator's fallback line-up
        assert d["model"] == "medium"
        assert d["explanation"]["budget"]["exhausted"] is True
        assert "fallback line-up: medium" in d["explanation"]["budget"]["note"]
    usage = app.get("/v1/tenants/acme/usage").json()
    assert usage["pending_usd"] > 0  # the fallback's spend is counted


def test_a_rule_that_leaves_no_candidate_is_a_422_naming_it(app):
    put_rules(app, {"rules": [FREE_CHEAP, {"name": "no-cheap-for-eu", "when": {"region": "eu"},
                                           "deny_tags": ["cheap"]}]})
    r = app.post("/v1/route", json={"prompt": "hi", "metadata": {"plan": "free", "region": "eu"}})
    assert r.status_code == 422
    assert "free-plan-cheap" in r.json()["detail"]
    r = app.post("/v1/route", json={"prompt": "hi", "candidates": ["large"],
                                    "metadata": {"plan": "free"}})
    assert r.status_code == 422 and "free-plan-cheap" in r.json()["detail"]


@pytest.mark.parametrize("body, named", [
    ({"rules": [{"name": "x", "allow_models": ["gpt-5"]}]}, "gpt-5"),
    ({"rules": [{"name": "x", "deny_tags": ["chepa"]}]}, "chepa"),
    ({"rules": [{"name": "x", "pin": "nope"}]}, "nope"),
    ({"budget_fallback": {"tags": ["premium"]}}, "premium"),
    ({"rules": [{"name": "x", "allow_tag": ["cheap"]}]}, "allow_tags"),
    ({"rules": [{"name": "x", "when": {"plan": "free"}}]}, "does nothing"),
])
def test_an_unknown_model_tag_or_key_in_a_rule_is_refused_on_put(app, body, named):
    r = put_rules(app, body)
    assert r.status_code == 422
    assert named in r.json()["detail"]
    assert app.get("/v1/rules", headers=ADMIN).json()["global"]["rules"] == []


def test_rules_of_an_unknown_tenant_are_a_404_and_app_keys_cannot_set_rules(app):
    assert put_rules(app, {"rules": [FREE_CHEAP]}, tenant="ghost").status_code == 404
    assert app.put("/v1/rules", json={"rules": [FREE_CHEAP]}).status_code == 403


def test_rules_in_the_models_file_are_loaded_and_checked_on_start(make_service, pg_url, tmp_path):
    good = tmp_path / "models.toml"
    good.write_text(FILE_MODELS + free_plan_rule_toml("free-plan-cheap", "cheap"))
    svc = make_service(pg_url, models_file=str(good))
    assert [r.name for r in svc.router.rules.sets["*"].rules] == ["free-plan-cheap"]
    bad = tmp_path / "bad.toml"
    bad.write_text(good.read_text().replace('allow_tags = ["cheap"]', 'allow_tags = ["cheep"]'))
    with pytest.raises(CatalogError, match="cheep"):
        make_service(pg_url, models_file=str(bad))


def test_a_rule_put_waits_for_a_model_delete_in_flight_then_refuses_the_deleted_model(app):
    """Without the lock the PUT was checked against this process's line-up, where the model
    being deleted by another transaction still stood, and stored a rule naming a gone model."""
    svc = app.app.state.service
    with ThreadPoolExecutor(1) as pool:
        with svc.sessions() as s, s.begin():
            exclusive_xact_lock(s, MODELS_LOCK)  # what DELETE /v1/models/medium holds
            retire_model(s, "medium")
            pending = pool.submit(put_rules, app, {"rules": [
                {"name": "pro-medium", "when": {"plan": "pro"}, "allow_models": ["medium"]}]})
            time.sleep(1.0)
            assert not pending.done(), "the PUT must wait for the line-up change to end"
        r = pending.result(timeout=30)
    assert r.status_code == 422 and "medium" in r.json()["detail"], r.text
    assert app.get("/v1/rules", headers=ADMIN).json()["global"]["rules"] == []


def test_a_model_delete_waits_for_a_rule_put_in_flight_then_is_a_409_naming_the_rule(app):
    svc = app.app.state.service
    with ThreadPoolExecutor(1) as pool:
        with svc.sessions() as s, s.begin():
            exclusive_xact_lock(s, MODELS_LOCK)  # what PUT /v1/rules holds
            save_rule_set(s, GLOBAL, rule_set_from_mapping({"rules": [
                {"name": "pro-medium", "when": {"plan": "pro"}, "allow_models": ["medium"]}]}))
            pending = pool.submit(app.delete, "/v1/models/medium", headers=ADMIN)
            time.sleep(1.0)
            assert not pending.done(), "the delete must wait for the rule write to end"
        r = pending.result(timeout=30)
    assert r.status_code == 409 and "pro-medium" in r.json()["detail"], r.text
    assert app.get("/v1/models/medium", headers=ADMIN).status_code == 200


def test_a_models_file_that_drops_a_tag_a_stored_rule_names_stops_the_start(make_service,
                                                                             pg_url, tmp_path):
    """The file registers its models on every start and may change their tags; a rule stored
    over the API that names a tag no model carries any more would silently match nothing."""
    first = tmp_path / "models.toml"
    first.write_text(FILE_MODELS)
    svc = make_service(pg_url, models_file=str(first))
    put_rule_set(svc, GLOBAL, {"rules": [FREE_CHEAP]})
    svc.stop()
    second = tmp_path / "retagged.toml"
    second.write_text(first.read_text().replace('tags = ["cheap"]', 'tags = ["small"]'))
    with pytest.raises(CatalogError, match="free-plan-cheap.*tag cheap"):
        make_service(pg_url, models_file=str(second))
    # the same file with a [[rules]] table that replaces the global scope starts
    third = tmp_path / "fixed.toml"
    third.write_text(second.read_text() + free_plan_rule_toml("free-plan-small", "small"))
    svc = make_service(pg_url, models_file=str(third))
    assert [r.name for r in svc.router.rules.sets["*"].rules] == ["free-plan-small"]
