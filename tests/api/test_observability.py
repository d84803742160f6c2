"""Observability: metrics, request ids, JSON logs, decision lookup, status data."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from bandit_router import logs
from tests.conftest import ADMIN, TWO_MODELS, new_tenant, route


@pytest.fixture
def client(make_client, pg_url):
    return make_client(pg_url, TWO_MODELS)


def _metric(text: str, name: str, **labels) -> float:
    for line in text.splitlines():
        if line.startswith(name) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_decisions_feedback_and_latency(client):
    before = client.get("/metrics").text
    d = route(client)
    client.post("/v1/feedback", json={"decision_id": d["decision_id"], "reward": 1})
    client.post("/v1/feedback", json={"decision_id": d["decision_id"], "reward": 1})
    client.post("/v1/feedback", json={"decision_id": d["decision_id"], "reward": 0})
    text = client.get("/metrics").text
    assert _metric(text, "bandit_router_decisions_total", model=d["model"], tenant="acme") == \
        _metric(before, "bandit_router_decisions_total", model=d["model"], tenant="acme") + 1
    for result in ("recorded", "duplicate", "conflict"):
        assert _metric(text, "bandit_router_feedback_total", tenant="acme", result=result) >= 1
    assert _metric(text, "bandit_router_http_request_duration_seconds_count",
                   endpoint="/v1/route", method="POST", status="200") >= 1
    assert _metric(text, "bandit_router_policy_version") == d["policy_version"]
    assert "bandit_router_refit_duration_seconds" in text
    assert OPERATOR_SECRET not in text and "Bearer" not in text


OPERATOR_SECRET = ADMIN["Authorization"].split()[1]


def test_reward_and_spend_are_counted_as_feedback_commits(client):
    d = route(client)
    before = client.get("/metrics").text
    r = client.post("/v1/feedback", json={"decision_id": d["decision_id"], "reward": 0.5,
                                          "cost_usd": 0.25})
    assert r.status_code == 201
    client.post("/v1/feedback", json={"decision_id": d["decision_id"], "reward": 0.5,
                                      "cost_usd": 0.25})  # a duplicate counts nothing
    after = client.get("/metrics").text

    def delta(name, **labels):
        return _metric(after, name, **labels) - _metric(before, name, **labels)

    model = d["model"]
    assert delta("bandit_router_reward_count", model=model) == 1
    assert delta("bandit_router_reward_sum", model=model) == pytest.approx(0.5)
    assert delta("bandit_router_spend_usd_total", tenant="acme", model=model) == (
        pytest.approx(0.25))


def test_missing_feedback_counts_decisions_five_to_ten_minutes_old(client):
    from bandit_router.jobs.observe import collect_gauges

    ids = [route(client, f"q{i}")["decision_id"] for i in range(4)]
    client.post("/v1/feedback", json={"decision_id": ids[0], "reward": 1})
    svc = client.app.state.service
    assert svc.flush()
    engine = sa.create_engine(svc.settings.database_url.get_secret_value())
    now = datetime.now(timezone.utc)
    with engine.begin() as conn:  # two old enough to be missed, one too old to count
        for decision_id, age in zip(ids, (7, 6, 8, 30)):
            conn.execute(sa.text("UPDATE decisions SET created_at = :t WHERE id = :d"),
                         {"t": now - timedelta(minutes=age), "d": decision_id})
    engine.dispose()
    collect_gauges(svc)
    assert _metric(client.get("/metrics").text, "bandit_router_feedback_missing",
                   tenant="acme") == 2


def test_request_id_is_taken_from_the_header_or_made(client):
    r = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    made = client.get("/healthz").headers["x-request-id"]
    assert len(made) == 32
    evil = client.get("/healthz", headers={"X-Request-ID": "x\" injected"})
    assert evil.headers["x-request-id"] != "x\" injected"


def test_decision_log_lines_are_json_with_decision_fields(client, caplog):
    caplog.set_level(logging.INFO, logger="bandit_router")
    d = client.post("/v1/route", json={"prompt": "hello"},
                    headers={"X-Request-ID": "req-42"}).json()
    record = next(r for r in caplog.records if getattr(r, "decision_id", None) ==
                  d["decision_id"])
    token = logs.request_id.set("req-42")
    try:
        line = json.loads(logs.JsonFormatter().format(record))
    finally:
        logs.request_id.reset(token)
    assert line["decision_id"] == d["decision_id"]
    assert (line["tenant"], line["model"], line["policy_version"]) == (
        "acme", d["model"], d["policy_version"])
    assert line["request_id"] == "req-42" and line["level"] == "info"


def test_a_decision_can_be_read_back_at_once(client):
    for _ in range(20):  # straight after routing, before the batch writer's next flush
        d = route(client, "hi")
        assert client.get(f"/v1/decisions/{d['decision_id']}").status_code == 200


def test_a_decision_can_be_read_back_with_its_feedback_by_its_tenant_only(client):
    d = route(client, "Explain recursion")
    client.post("/v1/feedback", json={"decision_id": d["decision_id"], "reward": 0.9,
                                      "latency_ms": 420})
    got = client.get(f"/v1/decisions/{d['decision_id']}").json()
    assert got["model"] == d["model"] and got["propensity"] == pytest.approx(d["propensity"])
    assert got["feedback"]["reward"] == 0.9 and got["feedback"]["latency_ms"] == 420
    assert set(got["scores"]) == {"model-a", "model-b"}
    other = new_tenant(client, "globex")
    assert client.get(f"/v1/decisions/{d['decision_id']}", headers=other).status_code == 404
    assert client.get(f"/v1/decisions/{d['decision_id']}", headers=ADMIN).status_code == 200


def test_status_reports_share_reward_latency_and_spend_per_model(client):
    for i in range(12):
        d = route(client, f"q{i}", candidates=["model-a"] if i < 9 else ["model-b"])
        client.post("/v1/feedback", json={"decision_id": d["decision_id"],
                                          "reward": 1.0 if i < 9 else 0.0,
                                          "latency_ms": 100.0 if i < 9 else 900.0})
    assert client.get("/v1/status").status_code == 403
    data = client.get("/v1/status?hours=1", headers=ADMIN).json()
    by = {m["id"]: m for m in data["models"]}
    assert by["model-a"]["share"] == pytest.approx(0.75)
    assert (by["model-a"]["mean_reward"], by["model-b"]["mean_reward"]) == (1.0, 0.0)
    assert by["model-b"]["p95_latency_ms"] == 900.0
    assert by["model-a"]["spend_usd"] > 0
    assert len(by["model-a"]["series"]["share"]) == 24
    assert data["decisions"] == 12 and data["sampled_decisions"] is None


def test_status_tells_the_true_count_when_it_reads_only_the_newest_decisions(client,
                                                                           monkeypatch):
    from bandit_router.api.routes import status

    monkeypatch.setattr(status, "ROW_LIMIT", 4)
    for i in range(7):
        route(client, f"q{i}")
    assert client.app.state.service.flush()  # decisions are logged in batches
    data = client.get("/v1/status?hours=1", headers=ADMIN).json()
    assert data["decisions"] == 7 and data["sampled_decisions"] == 4
    assert sum(m["decisions"] for m in data["models"]) == 4


def test_status_charts_span_the_datas_age_so_a_new_deployment_draws_lines(client):
    from bandit_router.api.routes.status import chart_span_s

    for i in range(6):
        d = route(client, f"q{i}")
        client.post("/v1/feedback", json={"decision_id": d["decision_id"], "error": "timeout"}
                    if i == 0 else {"decision_id": d["decision_id"], "reward": 1.0})
    data = client.get("/v1/status", headers=ADMIN).json()
    # Seconds-old data in the default 6-hour window: the charts span 2 minutes (5 s buckets).
    assert (data["window"], data["window_s"], len(data["bucket_starts"])) == ("2 min", 120, 24)
    assert data["bucket_starts"][1] - data["bucket_starts"][0] == pytest.approx(5)
    assert sum(m["failures"] for m in data["models"]) == 1
    assert sum(sum(m["series"]["failures"]) for m in data["models"]) == 1
    # Older data widens the span, never beyond what was asked for.
    assert chart_span_s(10 * 60, 6 * 3600) == 15 * 60
    assert chart_span_s(5 * 3600, 6 * 3600) == 6 * 3600
    assert chart_span_s(3 * 86_400, 6 * 3600) == 6 * 3600
    assert chart_span_s(None, 6 * 3600) == 120


def test_a_keep_alive_connection_is_closed_after_its_nth_answer(make_service, pg_url):
    """So that a client reusing a few connections reconnects, and its load can move to the
    worker that accepts first (an idle one), instead of staying on one busy worker."""
    import http.client

    from bandit_router.api.app import create_app
    from tests.proxy.servers import ServerThread

    svc = make_service(pg_url, TWO_MODELS, admin_key="op-key-0123456789abcdef",
                       max_requests_per_connection=3)
    server = ServerThread(create_app(service=svc)).start()
    try:
        for _ in range(2):  # each new connection counts from one again
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            answers = []
            for _ in range(3):
                conn.request("GET", "/healthz")
                r = conn.getresponse()
                r.read()
                answers.append((r.status, r.getheader("connection")))
            assert answers == [(200, None), (200, None), (200, "close")]
            assert conn.sock is None  # http.client closed it, as the answer asked
            conn.close()
    finally:
        server.stop()


def test_connections_are_kept_open_when_the_limit_is_off(make_service, pg_url):
    import http.client

    from bandit_router.api.app import create_app
    from tests.proxy.servers import ServerThread

    svc = make_service(pg_url, TWO_MODELS, admin_key="op-key-0123456789abcdef",
                       max_requests_per_connection=0)
    server = ServerThread(create_app(service=svc)).start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        for _ in range(150):
            conn.request("GET", "/healthz")
            r = conn.getresponse()
            r.read()
            assert r.getheader("connection") is None
        conn.close()
    finally:
        server.stop()
