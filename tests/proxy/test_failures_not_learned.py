"""A model that gave no answer is not learned as one that answered badly (issue 20, item 6):
missing credentials, refused connections, 5xx and 429 count in the circuit breaker and the
failure metric, and the client is told what to fix."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from bandit_router.api.app import create_app
from bandit_router.routing.catalog import ModelSpec
from tests.proxy.conftest import AUTH, KEY_ENV, PROXY_SETTINGS, SECRET, chat, feedback, service_of


def _observations(client) -> dict[str, float]:
    return {m["id"]: m["observations"] for m in client.get("/v1/models").json()["models"]}


def _failures(client, model: str, reason: str) -> float:
    prefix = f'bandit_router_upstream_failures_total{{model="{model}",reason="{reason}"}} '
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(prefix):
            return float(line.split()[-1])
    return 0.0


@pytest.mark.parametrize("failure", ["503", "429", "refused"])
def test_tries_that_got_no_answer_are_not_learned_as_a_bad_reward(proxy, upstreams, failure):
    a, _ = upstreams
    if failure == "refused":
        a.server.stop()  # nothing listens on model-a's port any more
    else:
        a.behaviour.status = int(failure)
    reason = "ConnectError" if failure == "refused" else failure
    before = _failures(proxy, "model-a", reason)
    failed = []
    for i in range(2):  # the breaker's threshold in these tests: it opens after this
        r = chat(proxy, content=f"question {i}")
        assert r.status_code == 200 and r.headers["x-bandit-router-model"] == "model-b", r.text
        answered = r.headers["x-bandit-router-decision-id"]
        assert proxy.post("/v1/feedback", json={"decision_id": answered, "reward": 1}).status_code == 201
        tried = _attempts(proxy, answered)
        assert [t["model"] for t in tried] == ["model-a", "model-b"]
        failed.append(tried[0]["decision_id"])
    svc = service_of(proxy)
    assert all(feedback(svc, d).error.startswith("proxy: upstream of model-a failed")
               for d in failed)
    assert proxy.post("/v1/admin/refit").status_code == 200
    obs = _observations(proxy)
    assert obs["model-a"] == 0, "model-a's failures were learned as rewards"
    assert obs["model-b"] == pytest.approx(2, abs=0.01)
    assert _failures(proxy, "model-a", reason) == before + 2
    # ...and they count in the breaker: model-a is cooling down, so the next request goes
    # straight to model-b without trying it.
    r = chat(proxy, content="after the cooldown started")
    assert [t["model"] for t in _attempts(proxy, r.headers["x-bandit-router-decision-id"])] == [
        "model-b"]


def _attempts(client, decision_id: str) -> list[dict]:
    return client.get(f"/v1/decisions/{decision_id}").json()["usage"]["attempts"]


def test_a_missing_upstream_key_names_the_variable_and_how_to_set_it(proxy, monkeypatch):
    monkeypatch.delenv(KEY_ENV)
    r = chat(proxy)
    assert r.status_code == 502
    message = r.json()["error"]["message"]
    assert f"model-a ({KEY_ENV} is not set)" in message
    assert f"model-b ({KEY_ENV} is not set)" in message
    assert f"Set {KEY_ENV} in the environment of the bandit-router server" in message
    assert "MissingApiKey" not in message
    assert SECRET not in message
    # Nothing was learned from it either.
    assert proxy.post("/v1/admin/refit").status_code == 200
    assert set(_observations(proxy).values()) == {0}


@pytest.mark.parametrize("models, says", [
    ([], "no model is registered yet; register one with a base_url"),
    ([ModelSpec(id="route-only", input_price_per_mtok=1, output_price_per_mtok=1,
                context_window=1000)],
     "none of the registered models (route-only) has a base_url"),
])
def test_with_nothing_to_forward_to_the_answer_says_what_to_register(make_service, pg_url,
                                                                     models, says):
    svc = make_service(pg_url, models, **PROXY_SETTINGS)
    with TestClient(create_app(service=svc), headers=AUTH) as client:
        for requested in ("auto", "group:cheap", "gpt-4o"):
            r = chat(client, model=requested)
            err = r.json()["error"]
            assert r.status_code == 503 and err["code"] == "no_models", r.text
            assert says in err["message"] and 'use "auto"' not in err["message"]
            assert "PUT /v1/models/{id}" in err["message"]


def test_the_status_endpoint_shows_a_model_in_cooldown_and_its_failed_tries(proxy, upstreams):
    upstreams[0].behaviour.status = 503
    for i in range(2):  # the threshold of these tests
        assert chat(proxy, content=f"q{i}").headers["x-bandit-router-model"] == "model-b"
    data = proxy.get("/v1/status").json()
    by = {m["id"]: m for m in data["models"]}
    assert by["model-a"]["circuit"]["state"] == "open"
    assert 0 < by["model-a"]["circuit"]["retry_in_s"] <= 0.5
    assert by["model-a"]["failures"] == 2 and by["model-b"]["failures"] == 0
    assert by["model-b"]["circuit"]["state"] == "closed"
    assert by["offline"]["circuit"] is None  # route-only: nothing to forward to
    assert [c["model"] for c in data["cooldowns"]] == ["model-a"]
