"""When the chosen model fails: fallbacks within the deadline, and cooldown of failing models."""

from __future__ import annotations

import time

from tests.proxy.conftest import chat, decision, feedback, service_of, usage


def test_a_failing_model_falls_back_and_the_reward_goes_to_the_model_that_answered(proxy,
                                                                                  upstreams):
    a, b = upstreams
    a.behaviour.status = 503
    r = chat(proxy)
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == "answer from b"
    assert r.headers["x-bandit-router-model"] == "model-b"
    svc = service_of(proxy)
    answered = r.headers["x-bandit-router-decision-id"]
    row = usage(svc, answered)
    assert [(t["model"], t["status"]) for t in row.attempts] == [("model-a", 503), ("model-b", 200)]
    first = row.attempts[0]["decision_id"]
    # The policy's decision for model-a records that it failed (not learned as a reward)...
    assert feedback(svc, first).error == "proxy: upstream of model-a failed (503)"
    assert (feedback(svc, first).reward, feedback(svc, first).cost_usd) == (None, 0.0)
    # ...and the fallback is a decision of its own, which the app's reward attaches to.
    fallback = decision(svc, answered)
    assert (fallback.model_id, fallback.propensity) == ("model-b", 1.0)
    assert fallback.request_metadata == {"fallback_of": first}
    assert feedback(svc, answered) is None
    assert proxy.post("/v1/feedback", json={"decision_id": answered, "reward": 1}).status_code == 201


def test_a_rate_limited_model_falls_back_and_all_rate_limited_is_a_429_with_retry_after(
        proxy, upstreams):
    a, b = upstreams
    a.behaviour.status, a.behaviour.retry_after = 429, "7"
    assert chat(proxy).headers["x-bandit-router-model"] == "model-b"
    b.behaviour.status, b.behaviour.retry_after = 429, "3"
    r = chat(proxy)
    assert r.status_code == 429
    assert r.headers["retry-after"] == "3"
    err = r.json()["error"]
    assert err["code"] == "rate_limit_exceeded"
    assert "model-a (429)" in err["message"] and "model-b (429)" in err["message"]


def test_a_slow_model_is_abandoned_after_the_attempt_timeout(proxy, upstreams):
    a, _ = upstreams
    a.behaviour.latency_s = 3.0  # the attempt timeout is 1 s
    t0 = time.monotonic()
    r = chat(proxy)
    assert time.monotonic() - t0 < 2.5
    assert r.headers["x-bandit-router-model"] == "model-b"
    row = usage(service_of(proxy), r.headers["x-bandit-router-decision-id"])
    assert row.attempts[0]["status"] == "timeout" and row.attempts[0]["latency_ms"] >= 1000


def test_an_unreachable_upstream_falls_back(proxy, upstreams):
    a, _ = upstreams
    a.server.stop()
    r = chat(proxy)
    assert r.headers["x-bandit-router-model"] == "model-b"
    row = usage(service_of(proxy), r.headers["x-bandit-router-decision-id"])
    assert row.attempts[0]["status"] == "ConnectError"


def test_when_no_model_answers_the_caller_gets_a_502_naming_each_failure(proxy, upstreams):
    a, b = upstreams
    a.behaviour.status, b.behaviour.status = 500, 502
    r = chat(proxy)
    assert r.status_code == 502
    err = r.json()["error"]
    assert err["code"] == "upstream_error"
    assert "model-a (500), model-b (502)" in err["message"]
    row = usage(service_of(proxy), r.headers["x-bandit-router-decision-id"])
    assert row.status == "error" and len(row.attempts) == 2


def test_a_model_failing_repeatedly_is_left_out_until_a_probe_succeeds(proxy, upstreams):
    a, b = upstreams
    a.behaviour.status = 503
    for _ in range(2):  # the threshold is 2 consecutive failures
        assert chat(proxy).headers["x-bandit-router-model"] == "model-b"
    assert len(a.requests) == 2
    breakers = proxy.app.state.proxy.breakers
    assert breakers.state("model-a") == "open"

    r = chat(proxy)  # in cooldown: not even tried, and not offered to the policy
    assert len(a.requests) == 2
    svc = service_of(proxy)
    assert decision(svc, r.headers["x-bandit-router-decision-id"]).candidates == ["model-b"]

    a.behaviour.status = 200  # the upstream recovers
    time.sleep(0.6)  # the cooldown is 0.5 s
    r = chat(proxy)
    assert r.headers["x-bandit-router-model"] == "model-a"  # the probe
    assert breakers.state("model-a") == "closed"
    assert chat(proxy).headers["x-bandit-router-model"] == "model-a"
    assert len(a.requests) == 4


def test_a_failed_probe_puts_the_model_back_in_cooldown(proxy, upstreams):
    a, _ = upstreams
    a.behaviour.status = 503
    chat(proxy), chat(proxy)
    time.sleep(0.6)
    assert chat(proxy).headers["x-bandit-router-model"] == "model-b"  # probe failed, fell back
    assert len(a.requests) == 3
    assert proxy.app.state.proxy.breakers.state("model-a") == "open"
    chat(proxy)
    assert len(a.requests) == 3


def test_when_every_model_is_in_cooldown_the_answer_is_503_with_retry_after(proxy, upstreams):
    a, b = upstreams
    a.behaviour.status = b.behaviour.status = 503
    assert [chat(proxy).status_code for _ in range(2)] == [502, 502]
    r = chat(proxy)
    assert r.status_code == 503
    assert int(r.headers["retry-after"]) >= 1
    assert r.json()["error"]["code"] == "models_cooling_down"
    assert len(a.requests) == len(b.requests) == 2
