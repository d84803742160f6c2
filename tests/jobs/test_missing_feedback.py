"""Missing feedback: a tenant's window closes, its default reward is recorded exactly once,
and late feedback is refused or replaces the default as the tenant chose."""

from __future__ import annotations

import multiprocessing as mp

import pytest
import sqlalchemy as sa

from bandit_router import metrics
from bandit_router.jobs.lifecycle import record_missing_feedback
from tests.conftest import ADMIN, route


def _sql(client, query, **params):
    engine = sa.create_engine(client.app.state.service.settings.database_url.get_secret_value())
    with engine.begin() as conn:
        rows = conn.execute(sa.text(query), params).all() if query.lstrip().upper().startswith(
            "SELECT") else conn.execute(sa.text(query), params)
    engine.dispose()
    return rows


def _window(client, **body):
    r = client.put("/v1/tenants/acme/feedback-window", json=body, headers=ADMIN)
    assert r.status_code == 200, r.text
    return r.json()


def _age(client, seconds: float) -> None:
    """Make every decision ``seconds`` older (as if routed that long ago)."""
    svc = client.app.state.service
    assert svc.flush()
    if svc.engine.dialect.name == "postgresql":
        _sql(client, "UPDATE decisions SET created_at = created_at - make_interval(secs => :s)",
             s=seconds)
    else:
        for d, t in _sql(client, "SELECT id, created_at FROM decisions"):
            _sql(client, "UPDATE decisions SET created_at = datetime(:t, :off) WHERE id = :d",
                 t=t, off=f"-{seconds} seconds", d=d)


def _feedback(client):
    return _sql(client, "SELECT decision_id, reward, origin, id FROM feedback ORDER BY id")


def _defaults_counted(tenant: str) -> float:
    return metrics.DEFAULT_REWARDS.labels(tenant)._value.get()


def test_default_reward_is_recorded_once_when_the_window_closes(client):
    out = _window(client, window_s=60, default_reward=0.25)
    assert out["feedback_window"] == {"window_s": 60.0, "default_reward": 0.25,
                                      "late_feedback": "reject"}
    ids = [route(client, f"q{i}")["decision_id"] for i in range(3)]
    assert client.post("/v1/feedback", json={"decision_id": ids[0], "reward": 1.0}).status_code == 201
    sessions = client.app.state.service.sessions
    assert record_missing_feedback(sessions) == {}  # windows still open
    _age(client, 120)
    before = _defaults_counted("acme")
    assert record_missing_feedback(sessions) == {"acme": 2}
    assert record_missing_feedback(sessions) == {}  # exactly once
    rows = {d: (r, o) for d, r, o, _ in _feedback(client)}
    assert rows == {ids[0]: (1.0, "app"), ids[1]: (0.25, "default"), ids[2]: (0.25, "default")}
    assert _defaults_counted("acme") - before == 2


def test_feedback_after_the_window_is_409_saying_it_closed(client):
    _window(client, window_s=60, default_reward=0.0)
    early, late = route(client, "a")["decision_id"], route(client, "b")["decision_id"]
    assert client.post("/v1/feedback", json={"decision_id": early, "reward": 0.5}).status_code == 201
    _age(client, 120)
    # Closed but the job has not run yet: refused all the same, and nothing is stored.
    r = client.post("/v1/feedback", json={"decision_id": late, "reward": 1.0})
    assert r.status_code == 409, r.text
    assert "window" in r.json()["detail"] and "closed" in r.json()["detail"]
    record_missing_feedback(client.app.state.service.sessions)
    r = client.post("/v1/feedback", json={"decision_id": late, "reward": 1.0})
    assert r.status_code == 409 and "closed" in r.json()["detail"]
    # Feedback given within the window can still be repeated safely.
    again = client.post("/v1/feedback", json={"decision_id": early, "reward": 0.5})
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    rows = {d: (r, o) for d, r, o, _ in _feedback(client)}
    assert rows == {early: (0.5, "app"), late: (0.0, "default")}


def test_late_feedback_replaces_the_default_once_when_the_tenant_allows_it(client):
    _window(client, window_s=60, default_reward=0.1, late_feedback="replace")
    d = route(client)["decision_id"]
    _age(client, 120)
    record_missing_feedback(client.app.state.service.sessions)
    [(_, reward, origin, default_id)] = _feedback(client)
    assert (reward, origin) == (0.1, "default")
    r = client.post("/v1/feedback", json={"decision_id": d, "reward": 0.9})
    assert r.status_code == 201, r.text
    [(_, reward, origin, new_id)] = _feedback(client)
    # A new row (a higher id), so the next refit learns the real reward.
    assert (reward, origin) == (0.9, "late") and new_id > default_id
    assert client.post("/v1/feedback", json={"decision_id": d, "reward": 0.9}).status_code == 200
    r = client.post("/v1/feedback", json={"decision_id": d, "reward": 0.3})
    assert r.status_code == 409 and "already recorded" in r.json()["detail"]
    assert record_missing_feedback(client.app.state.service.sessions) == {}
    assert [(x[1], x[2]) for x in _feedback(client)] == [(0.9, "late")]


def test_a_window_needs_a_default_reward_and_is_set_at_creation_too(client):
    r = client.put("/v1/tenants/acme/feedback-window", json={"window_s": 30}, headers=ADMIN)
    assert r.status_code == 422 and "default_reward" in r.text
    r = client.post("/v1/tenants", headers=ADMIN, json={
        "id": "beta", "name": "Beta",
        "feedback_window": {"window_s": 3600, "default_reward": 0, "late_feedback": "replace"}})
    assert r.status_code == 201, r.text
    assert r.json()["feedback_window"]["late_feedback"] == "replace"
    off = _window(client, window_s=None, default_reward=None)
    assert off["feedback_window"] is None


def _race(url: str, start, out) -> None:
    from bandit_router.store.db import make_engine, make_sessionmaker
    from bandit_router.store.missing import record_defaults

    engine = make_engine(url)
    start.wait()
    with make_sessionmaker(engine)() as s:
        out.put(sum(record_defaults(s, batch=50).values()))
    engine.dispose()


@pytest.mark.postgres
def test_two_processes_racing_record_each_default_exactly_once(make_client, pg_url):
    from tests.conftest import TWO_MODELS

    client = make_client(pg_url, TWO_MODELS)
    _window(client, window_s=60, default_reward=0.5)
    n = 600
    for i in range(n):
        route(client, f"request {i}")
    _age(client, 120)
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_race, args=(pg_url, start, out)) for _ in range(2)]
    for p in procs:
        p.start()
    start.set()
    recorded = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
    assert sum(recorded) == n  # the two together recorded each once
    [(rows, decisions, per_max)] = _sql(client, """
        SELECT count(*), count(DISTINCT decision_id),
               (SELECT max(c) FROM (SELECT count(*) c FROM feedback GROUP BY decision_id) x)
        FROM feedback WHERE origin = 'default'""")
    assert (rows, decisions, per_max) == (n, n, 1)
