"""Cascades through the proxy, against fake upstreams on loopback and the real Postgres:
escalation on a failed check, the first passing answer returned, every attempt charged and
its failure learned, streams buffered until checked, and the same chain for apps that call
models themselves (``/v1/route`` with ``escalate_from``)."""

from __future__ import annotations

import json
from typing import Iterator

import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bandit_router.api.app import create_app
from bandit_router.routing.catalog import ModelSpec
from tests.conftest import ADMIN, OPERATOR_KEY, new_tenant
from tests.proxy.conftest import KEY_ENV, PROXY_SETTINGS, SECRET, decision, feedback, usage
from tests.proxy.servers import ServerThread

JSON_CASCADE = {"models": ["model-a", "model-b"], "checks": {"json": True}}


def priced_line_up(a, b) -> list[ModelSpec]:
    """model-a cheap, model-b dear; both priced, so that every attempt costs something."""
    return [ModelSpec(id="model-a", input_price_per_mtok=1.0, output_price_per_mtok=2.0,
                      context_window=100_000, tags=("cheap",), base_url=a.base_url,
                      api_key_env=KEY_ENV),
            ModelSpec(id="model-b", input_price_per_mtok=10.0, output_price_per_mtok=30.0,
                      context_window=100_000, tags=("strong",), base_url=b.base_url,
                      api_key_env=KEY_ENV)]


@pytest.fixture
def app(make_service, pg_url, upstreams, monkeypatch) -> Iterator[TestClient]:
    """The proxy on Postgres; default headers are the app key of tenant "acme"."""
    monkeypatch.setenv(KEY_ENV, SECRET)
    svc = make_service(pg_url, priced_line_up(*upstreams),
                       **{**PROXY_SETTINGS, "admin_key": OPERATOR_KEY})
    with TestClient(create_app(service=svc), raise_server_exceptions=False) as client:
        client.headers.update(new_tenant(client, "acme"))
        yield client


@pytest.fixture
def verifier() -> Iterator[tuple[str, list]]:
    """An external verifier on loopback: passes only model-b's answers."""
    seen: list = []

    async def verify(request: Request):
        doc = await request.json()
        seen.append(doc)
        ok = doc["model"] == "model-b"
        return JSONResponse({"pass": ok, "reason": None if ok else "wrong total"})

    server = ServerThread(Starlette(routes=[Route("/verify", verify, methods=["POST"])])).start()
    yield server.url + "/verify", seen
    server.stop()


def cascade(client, name: str, body: dict) -> None:
    r = client.put(f"/v1/cascades/{name}", json=body, headers=ADMIN)
    assert r.status_code == 200, r.text


def ask(client, name: str = "json", **extra):
    return client.post("/v1/chat/completions", json={
        "model": f"cascade:{name}", "messages": [{"role": "user", "content": "Give JSON"}], **extra})


def chain_of(svc, r) -> list[dict]:
    return usage(svc, r.headers["x-bandit-router-decision-id"]).attempts


def test_invalid_json_escalates_and_every_attempt_is_charged_and_the_failure_learned(
        app, upstreams):
    a, b = upstreams
    a.behaviour.content, b.behaviour.content = "Sure! here it is: {oops", '{"total": 4}'
    cascade(app, "json", JSON_CASCADE)
    r = ask(app)
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == '{"total": 4}'
    assert r.headers["x-bandit-router-model"] == "model-b"
    assert r.headers["x-bandit-router-chain"] == "model-a=fail,model-b=pass"
    assert r.headers["x-bandit-router-check"] == "passed"
    svc = app.app.state.service
    attempts = chain_of(svc, r)
    assert [(t["model"], t["check"][:4]) for t in attempts] == [("model-a", "json"),
                                                               ("model-b", "pass")]
    cost_a = (12 * 1.0 + 4 * 2.0) / 1e6
    assert attempts[0]["cost_usd"] == pytest.approx(cost_a)
    failed = attempts[0]["decision_id"]
    fb = feedback(svc, failed)
    assert (fb.reward, fb.cost_usd, fb.charged_usd) == (0.0, pytest.approx(cost_a),
                                                        pytest.approx(cost_a))
    accepted = decision(svc, r.headers["x-bandit-router-decision-id"])
    assert accepted.request_metadata["cascade"] == {"name": "json", "escalated_from": failed}
    assert feedback(svc, accepted.id) is None  # the app's feedback applies to the accepted one
    assert app.post("/v1/feedback", json={"decision_id": accepted.id, "reward": 1}).status_code == 201
    spent = app.get("/v1/tenants/acme/usage").json()
    cost_b = (12 * 10.0 + 4 * 30.0) / 1e6
    assert spent["spent_usd"] == pytest.approx(cost_a + cost_b)


def test_a_refusal_escalates(app, upstreams):
    a, b = upstreams
    a.behaviour.content = "I'm sorry, but I can't help with that."
    cascade(app, "safe", {"models": ["model-a", "model-b"], "checks": {"not_refusal": True}})
    r = ask(app, "safe")
    assert r.headers["x-bandit-router-chain"] == "model-a=fail,model-b=pass"
    assert chain_of(app.app.state.service, r)[0]["check"].startswith("not_refusal")


def test_a_failed_verifier_escalates(app, upstreams, verifier):
    url, seen = verifier
    cascade(app, "verified", {"models": ["model-a", "model-b"], "checks": {"verifier_url": url}})
    r = ask(app, "verified")
    assert r.headers["x-bandit-router-chain"] == "model-a=fail,model-b=pass"
    assert [d["model"] for d in seen] == ["model-a", "model-b"]
    assert seen[0]["answer"] == "answer from a"
    assert chain_of(app.app.state.service, r)[0]["check"] == "verifier: wrong total"


def test_the_first_passing_answer_is_returned_and_dearer_models_are_not_called(app, upstreams):
    a, b = upstreams
    a.behaviour.content = '{"total": 4}'
    cascade(app, "json", JSON_CASCADE)
    r = ask(app)
    assert r.headers["x-bandit-router-chain"] == "model-a=pass"
    assert r.headers["x-bandit-router-model"] == "model-a"
    assert b.requests == []


def test_with_failure_reward_false_a_failed_check_is_charged_but_not_learned(app, upstreams):
    a, b = upstreams
    a.behaviour.content, b.behaviour.content = "nope", "{}"
    cascade(app, "json", {**JSON_CASCADE, "failure_reward": False})
    r = ask(app)
    failed = chain_of(app.app.state.service, r)[0]["decision_id"]
    fb = feedback(app.app.state.service, failed)
    assert fb.reward is None and fb.error.startswith("cascade check failed: json")
    assert fb.charged_usd > 0


def test_a_schema_from_response_format_is_checked(app, upstreams):
    a, b = upstreams
    a.behaviour.content, b.behaviour.content = '{"total": "four"}', '{"total": 4}'
    cascade(app, "typed", {"models": ["model-a", "model-b"], "checks": {"json_schema": True}})
    schema = {"type": "object", "properties": {"total": {"type": "integer"}},
              "required": ["total"]}
    r = ask(app, "typed", response_format={"type": "json_schema",
                                           "json_schema": {"name": "t", "schema": schema}})
    assert r.headers["x-bandit-router-chain"] == "model-a=fail,model-b=pass"
    assert "json_schema" in chain_of(app.app.state.service, r)[0]["check"]


def test_a_cut_off_answer_escalates_and_when_none_passes_the_last_is_returned_marked(
        app, upstreams):
    a, b = upstreams
    a.behaviour.finish_reason = b.behaviour.finish_reason = "length"
    cascade(app, "whole", {"models": ["model-a", "model-b"], "checks": {"not_truncated": True}})
    r = ask(app, "whole")
    assert r.status_code == 200
    assert r.headers["x-bandit-router-chain"] == "model-a=fail,model-b=fail"
    assert r.headers["x-bandit-router-check"] == "failed"
    assert r.json()["choices"][0]["message"]["content"] == "answer from b"


def test_a_streamed_cascade_is_buffered_until_its_check_passes(app, upstreams):
    a, b = upstreams
    a.behaviour.content, b.behaviour.content = "not json at all", '{"total": 4}'
    cascade(app, "json", JSON_CASCADE)
    r = ask(app, stream=True)
    assert r.status_code == 200
    assert r.headers["x-bandit-router-chain"] == "model-a=fail,model-b=pass"
    events = [json.loads(line[6:]) for line in r.text.splitlines()
              if line.startswith("data: {")]
    text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"])
    assert text == '{"total": 4}'  # nothing of model-a's failed answer reached the caller
    assert r.text.rstrip().endswith("data: [DONE]")
    assert all(e["choices"] for e in events)  # the usage chunk the proxy asked for is kept back


def test_a_check_that_cannot_run_on_a_stream_refuses_it(app, upstreams):
    a, _ = upstreams
    cascade(app, "sure", {"models": ["model-a", "model-b"], "checks": {"min_mean_logprob": -1}})
    r = ask(app, "sure", stream=True)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "cascade_cannot_stream"
    assert a.requests == []


def test_apps_that_call_models_themselves_escalate_with_escalate_from(app):
    cascade(app, "json", JSON_CASCADE)
    first = app.post("/v1/route", json={"prompt": "Give JSON", "cascade": "json"}).json()
    assert (first["model"], first["cascade"]) == ("model-a", {"name": "json", "next": ["model-b"]})
    nxt = app.post("/v1/route", json={"prompt": "Give JSON", "escalate_from": first["decision_id"]})
    assert nxt.status_code == 200, nxt.text
    assert nxt.json()["model"] == "model-b" and nxt.json()["cascade"]["next"] == []
    row = decision(app.app.state.service, nxt.json()["decision_id"])
    assert row.request_metadata["cascade"]["escalated_from"] == first["decision_id"]
    end = app.post("/v1/route", json={"prompt": "x", "escalate_from": nxt.json()["decision_id"]})
    assert end.status_code == 422 and "ends at model-b" in end.json()["detail"]
    plain = app.post("/v1/route", json={"prompt": "x"}).json()["decision_id"]
    assert app.post("/v1/route", json={"prompt": "x", "escalate_from": plain}).status_code == 422


@pytest.mark.parametrize("body, named", [
    ({"models": ["model-a", "gpt-9"], "checks": {"json": True}}, "gpt-9"),
    ({"models": ["model-a", "model-b"], "checks": {}}, "names no check"),
    ({"models": ["model-a", "model-b"], "checks": {"verifier_url": "file:///etc/passwd"}},
     "http"),
    ({"models": ["model-a", "model-b"], "checks": {"regex": "("}}, "regular expression"),
])
def test_a_bad_cascade_is_refused_naming_what_to_fix(app, body, named):
    r = app.put("/v1/cascades/c", json=body, headers=ADMIN)
    assert r.status_code == 422 and named in r.json()["detail"]
    assert ask(app, "c").status_code == 404
