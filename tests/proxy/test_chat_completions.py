"""POST /v1/chat/completions: what an app that only changed its base URL sees."""

from __future__ import annotations

import json

import pytest

from tests.proxy.conftest import SECRET, chat, decision, feedback, service_of, usage


def test_auto_answers_with_the_upstream_body_and_the_decision_headers(proxy, upstreams):
    a, _ = upstreams
    r = chat(proxy)
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == "answer from a"
    assert r.headers["x-bandit-router-model"] == "model-a"
    assert r.headers["x-upstream"] == "a"  # the upstream's own headers pass through
    decision_id = r.headers["x-bandit-router-decision-id"]
    assert decision(service_of(proxy), decision_id).model_id == "model-a"
    # The upstream got its own model name and the key from the environment, nothing else.
    seen = a.requests[-1]
    assert seen.body["model"] == "upstream-a"
    assert seen.body["messages"] == [{"role": "user", "content": "Say hi"}]
    assert seen.headers["authorization"] == f"Bearer {SECRET}"


def test_latency_tokens_and_cost_are_recorded_and_the_reward_comes_later(proxy, upstreams):
    _, b = upstreams
    r = chat(proxy, "model-b")
    assert r.status_code == 200, r.text
    decision_id = r.headers["x-bandit-router-decision-id"]
    row = usage(service_of(proxy), decision_id)
    assert (row.status, row.model_id, row.input_tokens, row.output_tokens) == ("ok", "model-b", 12, 4)
    assert row.cost_usd == pytest.approx((12 * 10.0 + 4 * 30.0) / 1e6)
    assert 0 < row.latency_ms < 5000
    assert [(t["model"], t["status"], t["usage"]) for t in row.attempts] == [
        ("model-b", 200, "upstream")]
    # No feedback yet: the app's reward with only the decision id is the first and only one.
    assert feedback(service_of(proxy), decision_id) is None
    fb = proxy.post("/v1/feedback", json={"decision_id": decision_id, "reward": 0.8})
    assert fb.status_code == 201, fb.text


def test_a_named_model_is_forwarded_to_directly_and_logged_with_propensity_one(proxy, upstreams):
    a, b = upstreams
    r = chat(proxy, "model-b")
    assert r.json()["choices"][0]["message"]["content"] == "answer from b"
    row = decision(service_of(proxy), r.headers["x-bandit-router-decision-id"])
    assert row.propensity == 1.0 and row.candidates == ["model-b"]
    assert a.requests == []


@pytest.mark.parametrize("group", ["group:strong", "strong"])
def test_a_route_group_is_a_tag(proxy, upstreams, group):
    r = chat(proxy, group)
    assert r.status_code == 200, r.text
    assert r.headers["x-bandit-router-model"] == "model-b"  # the only model tagged strong
    assert decision(service_of(proxy), r.headers["x-bandit-router-decision-id"]).candidates == [
        "model-b"]


def test_auto_and_groups_leave_out_models_without_a_base_url(proxy):
    for model in ("auto", "cheap", "group:cheap"):
        r = chat(proxy, model)
        row = decision(service_of(proxy), r.headers["x-bandit-router-decision-id"])
        assert "offline" not in row.candidates


def test_an_unknown_model_is_a_404_in_openai_error_format(proxy):
    r = chat(proxy, "gpt-9")
    assert r.status_code == 404
    err = r.json()["error"]
    assert err["code"] == "model_not_found" and err["type"] == "invalid_request_error"
    assert "'gpt-9'" in err["message"] and "group:<tag>" in err["message"]
    assert "model-a" in err["message"] and "strong" in err["message"]


def test_a_registered_model_without_base_url_says_so(proxy):
    r = chat(proxy, "offline")
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "model_not_forwardable"
    assert "no base_url" in r.json()["error"]["message"]


@pytest.mark.parametrize("body, where", [
    ({"messages": [{"role": "user", "content": "x"}]}, "model"),
    ({"model": "auto", "messages": []}, "messages"),
    ({"model": "auto", "messages": [{"role": "user", "content": "x"}], "max_tokens": -1},
     "max_tokens"),
])
def test_an_invalid_body_is_a_400_naming_the_field(proxy, body, where):
    r = proxy.post("/v1/chat/completions", json=body)
    assert r.status_code == 400
    assert r.json()["error"]["param"] == where and where in r.json()["error"]["message"]


def test_a_body_that_is_not_json_is_a_400(proxy):
    r = proxy.post("/v1/chat/completions", content=b"{not json",
                   headers={"content-type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]["message"]


def test_the_upstream_address_comes_only_from_the_registered_model(proxy, upstreams):
    a, b = upstreams
    r = chat(proxy, "model-a", base_url=b.base_url, api_base=b.base_url)
    assert r.status_code == 200
    assert r.json()["choices"][0]["message"]["content"] == "answer from a"
    assert b.requests == []


def test_a_request_the_upstream_refuses_goes_back_unchanged_without_fallback(proxy, upstreams):
    a, b = upstreams
    a.behaviour.status = 400
    r = chat(proxy)
    assert r.status_code == 400
    assert r.json()["error"]["message"] == "a is failing"
    assert b.requests == []
    row = usage(service_of(proxy), r.headers["x-bandit-router-decision-id"])
    assert row.status == "error" and row.error == "upstream answered 400"


def test_an_upstream_without_usage_is_billed_on_estimated_tokens(proxy, upstreams):
    _, b = upstreams
    b.behaviour.usage = None
    r = chat(proxy, "model-b")
    row = usage(service_of(proxy), r.headers["x-bandit-router-decision-id"])
    assert row.attempts[-1]["usage"] == "estimated"
    assert row.input_tokens > 0 and row.output_tokens == 4  # "answer from b": 13 bytes / 3.5
    assert row.cost_usd == pytest.approx((row.input_tokens * 10 + 4 * 30) / 1e6)


def test_the_key_never_reaches_the_logs_or_the_caller(proxy, upstreams, caplog):
    a, b = upstreams
    a.behaviour.status = 401
    b.behaviour.status = 503
    caplog.set_level("DEBUG")
    r = chat(proxy)
    assert r.status_code == 502
    assert SECRET not in r.text and SECRET not in caplog.text
    assert SECRET not in json.dumps(usage(service_of(proxy),
                                          r.headers["x-bandit-router-decision-id"]).attempts)


def test_an_app_key_owns_its_proxy_decisions_and_can_post_their_reward(proxy):
    from tests.proxy.conftest import AUTH

    assert proxy.post("/v1/tenants", json={"id": "acme", "name": "Acme"}, headers=AUTH
                      ).status_code == 201
    key = proxy.post("/v1/tenants/acme/keys", headers=AUTH).json()["key"]
    app = {"Authorization": f"Bearer {key}"}
    r = proxy.post("/v1/chat/completions", headers=app,
                   json={"model": "auto", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200, r.text
    decision_id = r.headers["x-bandit-router-decision-id"]
    assert decision(service_of(proxy), decision_id).tenant_id == "acme"
    assert proxy.post("/v1/feedback", headers=app,
                      json={"decision_id": decision_id, "reward": 1}).status_code == 201


def test_without_a_key_the_proxy_forwards_nothing(proxy, upstreams):
    r = proxy.post("/v1/chat/completions", headers={"Authorization": ""},
                   json={"model": "auto", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 401
    assert upstreams[0].requests == upstreams[1].requests == []


def test_a_bad_key_is_refused_before_the_body_is_read(proxy, upstreams):
    r = proxy.post("/v1/chat/completions", headers={"Authorization": "Bearer not-a-key"},
                   content=b"{not json")
    assert r.status_code == 401, r.text
    assert r.json()["error"]["message"] == "invalid or revoked API key"
    assert upstreams[0].requests == upstreams[1].requests == []


def test_a_call_is_answered_without_fastapi_dependency_solving(proxy):
    """Dependency overrides act only on FastAPI's own routes: were the proxy served by one,
    this override would refuse the call (api/routes/chat.py says why it is not)."""
    from fastapi import HTTPException

    from bandit_router.api.deps import get_principal

    def refuse():
        raise HTTPException(418, "went through FastAPI's dependency solving")

    proxy.app.dependency_overrides[get_principal] = refuse
    r = chat(proxy)
    assert r.status_code == 200, r.text
    assert r.headers["x-bandit-router-decision-id"]
