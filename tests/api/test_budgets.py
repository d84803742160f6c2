"""Budgets: atomic reservations, exhausted behaviour, and accounting that matches the ledger."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from bandit_router.catalog import ModelSpec
from tests.conftest import ADMIN, route

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


def test_spend_counts_cost_then_tokens_then_the_estimate(pg_client):
    _budget(pg_client, 100.0)
    a, b, c, d = (route(pg_client, **{k: v for k, v in BODY.items() if k != "prompt"},
                        candidates=["dear"]) for _ in range(4))
    fb = [
        {"decision_id": a["decision_id"], "reward": 1, "cost_usd": 0.5},
        {"decision_id": b["decision_id"], "reward": 1, "input_tokens": 2000,
         "output_tokens": 3000},  # 5,000 tokens × $10/M = $0.05
        {"decision_id": c["decision_id"], "reward": 1},  # the estimate: $0.02
    ]
    for body in fb:
        assert pg_client.post("/v1/feedback", json=body).status_code == 201
    usage = pg_client.get("/v1/tenants/acme/usage").json()
    assert usage["spent_usd"] == pytest.approx(0.5 + 0.05 + 0.02)
    assert usage["pending_usd"] == pytest.approx(0.02)  # d awaits feedback: its estimate
    dear = next(m for m in usage["models"] if m["model"] == "dear")
    assert (dear["decisions"], dear["with_feedback"], dear["mean_reward"]) == (4, 3, 1.0)
    svc = pg_client.app.state.service
    with svc.engine.connect() as conn:  # the counter the reservations use agrees with the ledger
        committed = conn.execute(sa.text("SELECT committed_usd FROM tenant_spend")).scalar()
    assert committed == pytest.approx(usage["committed_usd"])


def test_the_counter_is_reconciled_with_the_ledger(pg_client):
    _budget(pg_client, 10.0)
    route(pg_client, **{k: v for k, v in BODY.items() if k != "prompt"})
    svc = pg_client.app.state.service
    with svc.engine.begin() as conn:  # simulate drift: someone edited the counter by hand
        conn.execute(sa.text("UPDATE tenant_spend SET committed_usd = 7.0"))
    svc._last_reconcile = 0.0
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
