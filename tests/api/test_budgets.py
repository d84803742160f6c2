"""Budgets: atomic reservations, exhausted behaviour, and accounting that matches the ledger."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from bandit_router.routing.catalog import ModelSpec
from tests.conftest import ADMIN, TableLock, new_tenant, route

# Costs per request with 1,000 input + 1,000 output tokens: cheap $0.002, dear $0.02.
LINEUP = [
    ModelSpec(id="cheap", input_price_per_mtok=1.0, output_price_per_mtok=1.0,
              context_window=100_000),
    ModelSpec(id="dear", input_price_per_mtok=10.0, output_price_per_mtok=10.0,
              context_window=100_000),
]
BODY = {"prompt": "p", "input_tokens": 1000, "expected_output_tokens": 1000}


@pytest.fixture
def pg_client(make_client, pg_url):
    return make_client(pg_url, LINEUP)


def _budget(client, limit, on_exhausted="reject", period="day"):
    r = client.put("/v1/tenants/acme/budget", headers=ADMIN,
                   json={"period": period, "limit_usd": limit, "on_exhausted": on_exhausted})
    assert r.status_code == 200, r.text


def test_concurrent_requests_never_take_more_than_the_budget(pg_client):
    _budget(pg_client, 0.1, "reject")
    results = []

    def worker():
        for _ in range(15):
            r = pg_client.post("/v1/route", json=BODY)
            results.append((r.status_code, r.json()))

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = [b for s, b in results if s == 200]
    assert {s for s, _ in results} <= {200, 429}
    reserved = sum(b["estimated_cost_usd"] for b in ok)
    assert reserved <= 0.1 + 1e-9
    assert reserved >= 0.1 - 0.02  # it was used, not refused early
    usage = pg_client.get("/v1/tenants/acme/usage").json()
    assert usage["committed_usd"] == pytest.approx(reserved)
    assert usage["remaining_usd"] == pytest.approx(0.1 - reserved, abs=1e-9)


def test_reject_mode_answers_429_with_retry_after_when_exhausted(pg_client):
    _budget(pg_client, 0.005, "reject")
    answers = [pg_client.post("/v1/route", json=BODY) for _ in range(5)]
    assert [a.status_code for a in answers[:2]] == [200, 200]  # 2 × $0.002 fit, dear never
    assert all(a.json()["model"] == "cheap" for a in answers[:2])
    refused = answers[2]
    assert refused.status_code == 429
    assert "budget is exhausted" in refused.json()["detail"]
    assert 1 <= int(refused.headers["retry-after"]) <= 86_400


def test_cheapest_mode_keeps_serving_on_the_cheapest_model(pg_client):
    _budget(pg_client, 0.003, "cheapest")
    bodies = [route(pg_client, **{k: v for k, v in BODY.items() if k != "prompt"})
              for _ in range(4)]
    assert [b["model"] for b in bodies] == ["cheap"] * 4
    assert bodies[-1]["explanation"]["budget"]["exhausted"] is True
    assert "cheapest" in bodies[-1]["explanation"]["budget"]["note"]


def _feedback_then_usage(client, feedback: list[dict]) -> dict:
    a_route = {k: v for k, v in BODY.items() if k != "prompt"}
    for body in feedback:
        d = route(client, **a_route, candidates=["dear"])  # estimated at $0.02
        r = client.post("/v1/feedback", json={"decision_id": d["decision_id"], "reward": 1,
                                              **body})
        assert r.status_code == 201, r.text
    return client.get("/v1/tenants/acme/usage").json()


def test_spend_counts_what_the_app_reports_only_above_the_estimate(pg_client):
    _budget(pg_client, 100.0)
    route(pg_client, **{k: v for k, v in BODY.items() if k != "prompt"},
                    candidates=["dear"])
    usage = _feedback_then_usage(pg_client, [
        {"cost_usd": 0.5},  # above the estimate: counted as reported
        {"input_tokens": 2000, "output_tokens": 3000},  # 5,000 tokens × $10/M = $0.05
        {},  # nothing reported: the estimate, $0.02
        {"cost_usd": 0.0},  # below the estimate: the estimate, $0.02
        {"input_tokens": 1, "output_tokens": 1},  # below the estimate: $0.02
    ])
    assert usage["spent_usd"] == pytest.approx(0.5 + 0.05 + 0.02 * 3)
    assert usage["pending_usd"] == pytest.approx(0.02)  # awaits feedback: its estimate
    dear = next(m for m in usage["models"] if m["model"] == "dear")
    assert (dear["decisions"], dear["with_feedback"], dear["mean_reward"]) == (6, 5, 1.0)
    svc = pg_client.app.state.service
    with svc.engine.connect() as conn:  # the counter the reservations use agrees with the ledger
        committed = conn.execute(sa.text("SELECT committed_usd FROM tenant_spend")).scalar()
    assert committed == pytest.approx(usage["committed_usd"])


def test_a_trusted_tenant_is_charged_what_its_app_reports(pg_client):
    _budget(pg_client, 100.0)
    r = pg_client.put("/v1/tenants/acme/trust", json={"trust_reported_cost": True},
                      headers=ADMIN)
    assert r.status_code == 200 and r.json()["trust_reported_cost"] is True
    usage = _feedback_then_usage(pg_client, [{"cost_usd": 0.001},
                                             {"input_tokens": 100, "output_tokens": 100}, {}])
    assert usage["spent_usd"] == pytest.approx(0.001 + 0.002 + 0.02)
    assert pg_client.get("/v1/tenants/acme", headers=ADMIN).json()["trust_reported_cost"]


def test_a_reject_budget_holds_when_feedback_reports_cost_zero(pg_client):
    """The chaos run's finding: a $0.01 reject budget routed 7.7× its limit when every
    feedback said cost_usd 0. Now each decision is charged at least its estimate."""
    _budget(pg_client, 0.01, "reject")
    answered = 0
    for _ in range(30):
        r = pg_client.post("/v1/route", json={**BODY, "candidates": ["cheap"]})  # $0.002 each
        if r.status_code == 429:
            continue
        assert r.status_code == 200, r.text
        answered += 1
        fb = pg_client.post("/v1/feedback", json={"decision_id": r.json()["decision_id"],
                                                  "reward": 1, "cost_usd": 0.0})
        assert fb.status_code == 201
    usage = pg_client.get("/v1/tenants/acme/usage").json()
    assert answered == 5  # $0.01 / $0.002, then 429
    assert usage["spent_usd"] == pytest.approx(0.01) and usage["remaining_usd"] == 0


def test_the_counter_is_reconciled_with_the_ledger(pg_client):
    _budget(pg_client, 10.0)
    route(pg_client, **{k: v for k, v in BODY.items() if k != "prompt"})
    svc = pg_client.app.state.service
    with svc.engine.begin() as conn:  # simulate drift: someone edited the counter by hand
        conn.execute(sa.text("UPDATE tenant_spend SET committed_usd = 7.0"))
    svc.syncer._last_reconcile = 0.0
    svc.sync()
    usage = pg_client.get("/v1/tenants/acme/usage").json()
    with svc.engine.connect() as conn:
        committed = conn.execute(sa.text("SELECT committed_usd FROM tenant_spend")).scalar()
    assert committed == pytest.approx(usage["committed_usd"]) and committed < 1.0


def test_budget_validation(pg_client):
    for bad in ({"period": "week", "limit_usd": 1}, {"period": "day", "limit_usd": -1},
                {"period": "day", "limit_usd": 1, "on_exhausted": "panic"}):
        r = pg_client.put("/v1/tenants/acme/budget", json=bad, headers=ADMIN)
        assert r.status_code == 422, bad


def test_usage_reports_the_paced_cost_weight(pg_client):
    _budget(pg_client, 0.05, "cheapest", period="hour")
    for _ in range(20):
        route(pg_client, **{k: v for k, v in BODY.items() if k != "prompt"})
    pg_client.app.state.service.sync()
    usage = pg_client.get("/v1/tenants/acme/usage").json()
    assert usage["period"] == "hour" and usage["limit_usd"] == 0.05
    assert usage["cost_weight"] is not None and usage["cost_weight"] >= 0


def test_a_budgeted_decision_the_log_cannot_take_in_time_is_a_503_and_reserves_nothing(
        make_client, pg_url):
    client = make_client(pg_url, LINEUP, feedback_wait_s=1.0)
    _budget(client, 10.0)
    other = new_tenant(client, "globex")  # no budget: its decisions are queued
    svc = client.app.state.service
    lock = TableLock(pg_url, "decisions", "ACCESS EXCLUSIVE")
    try:
        assert client.post("/v1/route", json={"prompt": "x"}, headers=other).status_code == 200
        time.sleep(0.3)  # the writer's batch now waits for the lock
        started = time.monotonic()
        r = client.post("/v1/route", json=BODY)  # committed behind it, with its reservation
        assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1, r.text
        assert time.monotonic() - started < 1.0 + 1.0
    finally:
        lock.release()
    assert svc.flush(10)
    with svc.engine.connect() as conn:
        spent = conn.execute(sa.text("SELECT coalesce(sum(committed_usd), 0) FROM tenant_spend "
                                     "WHERE tenant_id = 'acme'")).scalar()
        logged = conn.execute(sa.text("SELECT count(*) FROM decisions WHERE tenant_id = 'acme'"
                                      )).scalar()
    assert spent == 0 and logged == 0  # nothing answered, so nothing reserved or logged
    assert client.post("/v1/route", json=BODY).status_code == 200  # and it works again
