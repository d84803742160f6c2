"""POST /v1/feedback: outcomes are stored exactly once, and a 2xx means committed."""

from __future__ import annotations

import sqlalchemy as sa

from tests.conftest import route


def _stored(client, decision_id):
    engine = sa.create_engine(client.app.state.service.settings.database_url.get_secret_value())
    with engine.connect() as conn:  # a separate connection: sees only committed rows
        rows = conn.execute(sa.text("SELECT reward, latency_ms, error FROM feedback "
                                    "WHERE decision_id = :d"), {"d": decision_id}).all()
    engine.dispose()
    return rows


def test_first_feedback_is_201_and_committed(client):
    d = route(client)["decision_id"]
    r = client.post("/v1/feedback", json={"decision_id": d, "reward": 0.75, "input_tokens": 12,
                                          "output_tokens": 80, "cost_usd": 0.0002,
                                          "latency_ms": 340.5})
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "recorded"
    assert _stored(client, d) == [(0.75, 340.5, None)]


def test_identical_repeat_is_200_and_stores_nothing_new(client):
    d = route(client)["decision_id"]
    body = {"decision_id": d, "reward": 1.0, "latency_ms": 100.0}
    first = client.post("/v1/feedback", json=body)
    again = client.post("/v1/feedback", json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["status"] == "duplicate"
    assert again.json()["feedback_id"] == first.json()["feedback_id"]
    assert len(_stored(client, d)) == 1


def test_conflicting_repeat_is_409_and_keeps_the_first(client):
    d = route(client)["decision_id"]
    assert client.post("/v1/feedback", json={"decision_id": d, "reward": 1.0}).status_code == 201
    r = client.post("/v1/feedback", json={"decision_id": d, "reward": 0.0})
    assert r.status_code == 409
    assert "already recorded" in r.json()["detail"]
    assert _stored(client, d) == [(1.0, None, None)]


def test_unknown_decision_is_404(client):
    r = client.post("/v1/feedback", json={"decision_id": "00000000-0000-0000-0000-000000000000",
                                          "reward": 1})
    assert r.status_code == 404
    assert "does not exist" in r.json()["detail"]


def test_error_without_reward_is_accepted(client):
    d = route(client)["decision_id"]
    r = client.post("/v1/feedback", json={"decision_id": d, "error": "upstream timeout"})
    assert r.status_code == 201
    assert _stored(client, d) == [(None, None, "upstream timeout")]


def test_invalid_values_are_422_and_nothing_is_stored(client):
    d = route(client)["decision_id"]
    bad = [
        ({"reward": 1.5}, "reward"),
        ({"reward": -0.1}, "reward"),
        ({"reward": "0.5"}, "reward"),
        ({"reward": True}, "reward"),
        ({"reward": 0.5, "input_tokens": -3}, "input_tokens"),
        ({"reward": 0.5, "output_tokens": 2.5}, "output_tokens"),
        ({"reward": 0.5, "cost_usd": -1}, "cost_usd"),
        ({"reward": 0.5, "latency_ms": -5}, "latency_ms"),
        ({}, "reward"),
        ({"reward": 0.5, "colour": "red"}, "colour"),
    ]
    for extra, field in bad:
        r = client.post("/v1/feedback", json={"decision_id": d, **extra})
        assert r.status_code == 422, (extra, r.text)
        assert field in r.json()["detail"], (extra, r.json())
    for literal in ("NaN", "Infinity"):
        r = client.post("/v1/feedback", content='{"decision_id": "%s", "reward": %s}' % (d, literal),
                        headers={"content-type": "application/json"})
        assert r.status_code == 422
    assert _stored(client, d) == []


def test_missing_decision_id_is_422(client):
    r = client.post("/v1/feedback", json={"reward": 1})
    assert r.status_code == 422
    assert "decision_id" in r.json()["detail"]
