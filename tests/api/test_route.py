"""POST /v1/route: what an app asking for a model sees."""

from __future__ import annotations

import threading
import time

from bandit_router.routing.catalog import ModelSpec
from tests.conftest import TWO_MODELS, route


def test_route_answers_a_model_with_propensity_cost_and_explanation(client):
    body = route(client, "Write a Python function that reverses a list", expected_output_tokens=300)
    assert body["model"] in {"model-a", "model-b"}
    assert body["fallbacks"] == [m for m in ("model-a", "model-b") if m != body["model"]]
    assert 0.01 <= body["propensity"] <= 1.0
    assert body["policy_version"] >= 1
    # 11 input tokens est. is not asserted exactly; 300 output tokens at $2/M is.
    assert body["estimated_cost_usd"] >= 300 * 2.0 / 1e6
    scores = body["explanation"]["models"]
    assert set(scores) == {"model-a", "model-b"}
    assert {"predicted_reward", "uncertainty", "estimated_cost_usd", "utility"} <= set(
        scores["model-a"])


def test_chat_messages_are_accepted_instead_of_a_prompt(client):
    r = client.post("/v1/route", json={"messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": [{"type": "text", "text": "Sum 2 and 2"}]},
    ]})
    assert r.status_code == 200, r.text


def test_prompt_and_messages_together_or_neither_is_a_422(client):
    both = client.post("/v1/route", json={"prompt": "x", "messages": [{"role": "user",
                                                                     "content": "x"}]})
    neither = client.post("/v1/route", json={"features": {"a": 1}})
    for r in (both, neither):
        assert r.status_code == 422
        assert "exactly one of `prompt`" in r.json()["detail"]


def test_candidates_restrict_the_choice(client):
    for _ in range(20):
        assert route(client, "hi", candidates=["model-b"])["model"] == "model-b"


def test_unknown_candidate_is_a_422_naming_it(client):
    r = client.post("/v1/route", json={"prompt": "hi", "candidates": ["model-a", "gpt-9"]})
    assert r.status_code == 422
    assert "gpt-9" in r.json()["detail"]


def test_models_whose_context_window_is_too_small_are_never_chosen(make_client, db_url):
    small = ModelSpec(id="tiny", input_price_per_mtok=0.0, output_price_per_mtok=0.0,
                      context_window=1000)
    client = make_client(db_url, TWO_MODELS + [small])
    long_prompt = "word " * 2000  # ~2,900 tokens by the conservative estimate
    chosen = {route(client, long_prompt)["model"] for _ in range(60)}
    assert "tiny" not in chosen
    explanation = route(client, long_prompt)["explanation"]["models"]["tiny"]
    assert explanation["eligible"] is False and "context window 1000" in explanation["reason"]
    # ...but a short prompt may go to it.
    assert "tiny" in {route(client, "hi", expected_output_tokens=10)["model"] for _ in range(60)}


def test_expected_output_counts_against_the_context_window(client):
    r = client.post("/v1/route", json={"prompt": "hi", "expected_output_tokens": 200_000})
    assert r.status_code == 422
    assert "context window" in r.json()["detail"]


def test_invalid_values_are_422_with_the_field_named(client):
    cases = [
        ({"prompt": 5}, "prompt"),
        ({"prompt": "x", "features": {"a": "high"}}, "features.a"),
        ({"prompt": "x", "expected_output_tokens": -1}, "expected_output_tokens"),
        ({"prompt": "x", "candidates": []}, "candidates"),
        ({"prompt": "x", "surprise": True}, "surprise"),
    ]
    for body, field in cases:
        r = client.post("/v1/route", json=body)
        assert r.status_code == 422, (body, r.text)
        assert field in r.json()["detail"], r.json()


def test_nan_and_infinity_in_features_are_rejected(client):
    for literal in ("NaN", "Infinity", "-Infinity"):
        r = client.post("/v1/route", content='{"prompt": "x", "features": {"a": %s}}' % literal,
                        headers={"content-type": "application/json"})
        assert r.status_code == 422, literal
        assert "finite" in r.json()["detail"]


def test_a_prompt_over_the_limit_is_413(make_client, sqlite_url):
    client = make_client(sqlite_url, TWO_MODELS, max_prompt_chars=1000)
    r = client.post("/v1/route", json={"prompt": "a" * 1001})
    assert r.status_code == 413
    assert "1000" in r.json()["detail"]


def test_a_body_over_the_limit_is_413(make_client, sqlite_url):
    client = make_client(sqlite_url, TWO_MODELS, max_body_bytes=2048)
    r = client.post("/v1/route", json={"prompt": "a" * 5000})
    assert r.status_code == 413
    assert "BANDIT_ROUTER_MAX_BODY_BYTES" in r.json()["detail"]


def test_malformed_json_is_a_422_not_a_500(client):
    r = client.post("/v1/route", content=b'{"prompt": ', headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert "not valid JSON" in r.json()["detail"]


def test_no_registered_models_is_a_503_telling_how_to_add_one(make_client, sqlite_url):
    client = make_client(sqlite_url)
    r = client.post("/v1/route", json={"prompt": "hi"})
    assert r.status_code == 503
    assert "PUT /v1/models" in r.json()["detail"]


def test_a_decision_routed_by_another_worker_moments_ago_can_be_looked_up(make_service, pg_url):
    """Worker A still holds the decision in its write buffer; worker B looks it up at once."""
    from fastapi.testclient import TestClient

    from bandit_router.api.app import create_app
    from tests.conftest import ADMIN, OPERATOR_KEY

    a = make_service(pg_url, TWO_MODELS, admin_key=OPERATOR_KEY, writer_linger_s=0.3)
    b = make_service(pg_url, admin_key=OPERATOR_KEY, decision_grace_s=0.05)
    impatient = make_service(pg_url, admin_key=OPERATOR_KEY, feedback_wait_s=0.1)
    with TestClient(create_app(service=a)) as ca, TestClient(create_app(service=b)) as cb, \
            TestClient(create_app(service=impatient)) as ci:
        # Not written yet, and the wait is too short to see it: "retry", never "unknown".
        first = ca.post("/v1/route", json={"prompt": "hi"}, headers=ADMIN).json()["decision_id"]
        early = ci.get(f"/v1/decisions/{first}", headers=ADMIN)
        assert early.status_code == 503 and early.headers["retry-after"], early.text
        assert "not in the database yet" in early.json()["detail"]
        second = ca.post("/v1/route", json={"prompt": "hi"}, headers=ADMIN).json()["decision_id"]
        found = cb.get(f"/v1/decisions/{second}", headers=ADMIN)
        assert found.status_code == 200, found.text
        assert found.json()["decision_id"] == second
        assert ci.get(f"/v1/decisions/{first}", headers=ADMIN).status_code == 200


def test_the_decision_log_stores_the_per_model_numbers_the_answer_showed(client):
    # The answer and the log row carry one serialisation of them (RouteDecision.models_json).
    for prompt in ("hi", "Explain the integral of a density " * 20):
        d = route(client, prompt, candidates=["model-b", "model-a"])
        got = client.get(f"/v1/decisions/{d['decision_id']}").json()
        assert got["scores"] == d["explanation"]["models"]
        assert list(got["scores"]) == ["model-b", "model-a"]  # the candidates' order


def test_a_lookup_whose_wait_runs_out_on_a_locked_table_says_not_written_yet(make_service,
                                                                              pg_url):
    """The database is up but a lock (a migration, VACUUM FULL) holds the lookup past its
    wait: the answer is the lookup's own 503 "not in the database yet ... retry", not "the
    database is unavailable"; once the lock is gone the decision is found."""
    from fastapi.testclient import TestClient

    from bandit_router.api.app import create_app
    from tests.conftest import ADMIN, OPERATOR_KEY, TableLock

    a = make_service(pg_url, TWO_MODELS, admin_key=OPERATOR_KEY)
    impatient = make_service(pg_url, admin_key=OPERATOR_KEY, feedback_wait_s=0.5)
    with TestClient(create_app(service=a)) as ca, \
            TestClient(create_app(service=impatient)) as ci:
        lock = TableLock(pg_url, "decisions", "ACCESS EXCLUSIVE")
        once = threading.Lock()

        def release() -> None:
            if once.acquire(blocking=False):
                lock.release()

        unlock = threading.Timer(15.0, release)  # so that a lookup without a bound ends
        unlock.start()
        try:
            decision = ca.post("/v1/route", json={"prompt": "hi"},
                               headers=ADMIN).json()["decision_id"]
            t0 = time.monotonic()
            held = ci.get(f"/v1/decisions/{decision}", headers=ADMIN)
            took = time.monotonic() - t0
        finally:
            unlock.cancel()
            release()
        assert took < 0.5 + 3.0, f"the lookup took {took:.1f} s against a 0.5 s wait"
        assert held.status_code == 503 and held.headers["retry-after"], held.text
        assert "not in the database yet" in held.json()["detail"], held.text
        for _ in range(50):
            found = ci.get(f"/v1/decisions/{decision}", headers=ADMIN)
            if found.status_code == 200:
                break
            time.sleep(0.1)
        assert found.status_code == 200, found.text
