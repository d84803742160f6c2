"""Latency SLAs: a model that turns slow loses the tenant's traffic, and wins it back."""

from __future__ import annotations

import time

import pytest


from tests.conftest import ADMIN, TWO_MODELS, route


def _serve_traffic(client, n, latency_of):
    picks = []
    for i in range(n):
        d = route(client, f"question {i}")
        picks.append(d["model"])
        client.post("/v1/feedback", json={"decision_id": d["decision_id"], "reward": 1.0,
                                          "latency_ms": latency_of[d["model"]]})
    return picks


def test_a_slow_model_stops_getting_traffic_and_gets_it_back(make_client, pg_url):
    client = make_client(pg_url, TWO_MODELS, latency_window_s=3.0)
    client.put("/v1/tenants/acme/sla", json={"p95_latency_ms": 1000}, headers=ADMIN)
    svc = client.app.state.service
    svc.sync()

    _serve_traffic(client, 30, {"model-a": 300, "model-b": 300})
    svc.sync()
    slow = {"model-a": 4000, "model-b": 300}
    _serve_traffic(client, 40, slow)  # model-a turns slow; its feedback says so
    svc.sync()
    assert svc.router.latency_p95["model-a"] > 1000
    after = _serve_traffic(client, 40, slow)
    assert "model-a" not in after
    reason = route(client)["explanation"]["models"]["model-a"]["reason"]
    assert "p95 latency" in reason

    time.sleep(3.2)  # the slow samples leave the window: model-a may be tried again
    svc.sync()
    recovered = _serve_traffic(client, 60, {"model-a": 250, "model-b": 300})
    assert recovered.count("model-a") >= 10


def test_when_no_model_meets_the_limit_the_fastest_is_chosen_and_said(make_client, pg_url):
    client = make_client(pg_url, TWO_MODELS)
    svc = client.app.state.service
    _serve_traffic(client, 40, {"model-a": 900, "model-b": 2500})
    svc.sync()
    for _ in range(10):
        d = route(client, "x", max_latency_ms=100)
        assert d["model"] == "model-a"
    assert d["explanation"]["latency"]["met"] is False
    assert "fastest" in d["explanation"]["latency"]["note"]


def test_per_request_max_latency_is_validated(make_client, sqlite_url):
    client = make_client(sqlite_url, TWO_MODELS)
    r = client.post("/v1/route", json={"prompt": "x", "max_latency_ms": -5})
    assert r.status_code == 422 and "max_latency_ms" in r.json()["detail"]


def test_p95_is_the_same_on_postgres_and_sqlite_and_uses_only_the_newest_rows(client):
    import numpy as np

    from bandit_router.store.latency import recent_p95

    latencies = [float(v) for v in range(10, 410, 10)]  # 40 feedbacks, 10..400 ms
    chosen = []
    for ms in latencies:
        d = route(client)
        chosen.append(d["model"])
        assert client.post("/v1/feedback", json={"decision_id": d["decision_id"], "reward": 1,
                                                 "latency_ms": ms}).status_code == 201
    svc = client.app.state.service
    with svc.sessions() as s:
        every = recent_p95(s, 300)
        newest = recent_p95(s, 300, max_rows=10)
    for model in set(chosen):
        mine = [ms for ms, m in zip(latencies, chosen) if m == model]
        assert every[model] == pytest.approx(np.percentile(mine, 95))
    # Only the 10 newest feedback rows (the slowest ones here) count with max_rows=10.
    assert min(newest.values()) > 300
