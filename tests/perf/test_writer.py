"""The batched decision log and feedback group commit keep every promise of the plain path:
a 2xx for feedback means the feedback and its decision are committed, repeats are answered
200 or 409, unknown decisions 404, and shutting down writes what is buffered."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from bandit_router.routing import RouteRequest
from bandit_router.store.decisions import Outcome
from bandit_router.store.errors import Conflict, NotFound
from bandit_router.store.writer import Unavailable
from tests.conftest import TWO_MODELS, TableLock


def _count(url: str, sql: str, **params) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as conn:  # a separate connection: sees only committed rows
        n = conn.execute(sa.text(sql), params).scalar_one()
    engine.dispose()
    return int(n)


_TableLock = TableLock  # EXCLUSIVE on decisions: the writer's INSERTs wait


def test_feedback_waits_for_its_batched_decision_to_be_committed(make_service, pg_url):
    svc = make_service(pg_url, TWO_MODELS, feedback_wait_s=0.5)
    lock = _TableLock(pg_url)
    try:
        d = svc.route(RouteRequest(prompt="hello"), batched=True)
        with pytest.raises(Unavailable):  # its decision is not logged yet: no 2xx
            svc.feedback(d.decision_id, Outcome(reward=1.0))
        assert _count(pg_url, "SELECT count(*) FROM feedback") == 0
        done = {}
        t = threading.Thread(target=lambda: done.setdefault(
            "r", svc.feedback(d.decision_id, Outcome(reward=1.0))))
        svc.settings.feedback_wait_s = 10.0
        t.start()
    finally:
        lock.release()
    t.join(15)
    assert done["r"][1] is True
    assert _count(pg_url, "SELECT count(*) FROM decisions WHERE id = :i", i=d.decision_id) == 1
    assert _count(pg_url, "SELECT count(*) FROM feedback WHERE decision_id = :i",
                  i=d.decision_id) == 1


def test_every_acknowledged_feedback_and_its_decision_are_committed(make_service, pg_url):
    svc = make_service(pg_url, TWO_MODELS)
    ids = [svc.route(RouteRequest(prompt=f"question {i}"), batched=True).decision_id
           for i in range(300)]
    with ThreadPoolExecutor(16) as pool:  # feedback right away, most decisions still buffered
        results = list(pool.map(lambda d: svc.feedback(d, Outcome(reward=0.5)), ids))
    assert all(created for _, created in results)
    assert len({fid for fid, _ in results}) == 300
    assert _count(pg_url, "SELECT count(*) FROM feedback f JOIN decisions d "
                          "ON d.id = f.decision_id") == 300


def test_group_commit_answers_created_duplicate_conflict_and_unknown(make_service, pg_url):
    svc = make_service(pg_url, TWO_MODELS, decision_grace_s=0.01)
    ids = [svc.route(RouteRequest(prompt=f"p {i}"), batched=True).decision_id for i in range(60)]
    unknown = [str(uuid.uuid4()) for _ in range(20)]
    work = ([(d, 1.0) for d in ids] * 2 + [(d, 0.0) for d in ids] + [(u, 1.0) for u in unknown])
    order = list(range(len(work)))
    __import__("random").Random(7).shuffle(order)

    def post(i):
        d, reward = work[i]
        try:
            return d, reward, svc.feedback(d, Outcome(reward=reward))
        except (NotFound, Conflict) as exc:
            return d, reward, type(exc).__name__

    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(post, order))
    by_decision: dict[str, list] = {}
    for d, reward, res in answers:
        by_decision.setdefault(d, []).append((reward, res))
    for d in unknown:
        assert by_decision[d] == [(1.0, "NotFound")]
    for d in ids:
        got = by_decision[d]
        created = [(r, res) for r, res in got if isinstance(res, tuple) and res[1]]
        assert len(created) == 1  # exactly one of the three stored it
        first_reward, (fid, _) = created[0]
        for r, res in got:
            if r == first_reward:  # the identical body: created once, otherwise a duplicate
                assert isinstance(res, tuple) and res[0] == fid
            else:
                assert res == "Conflict"
    assert _count(pg_url, "SELECT count(*) FROM feedback") == 60


def test_another_tenants_decision_is_unknown(make_service, pg_url):
    svc = make_service(pg_url, TWO_MODELS, decision_grace_s=0.01)
    d = svc.route(RouteRequest(prompt="x"), tenant_id="acme", batched=True).decision_id
    with pytest.raises(NotFound):
        svc.feedback(d, Outcome(reward=1.0), tenant_id="globex")
    assert svc.feedback(d, Outcome(reward=1.0), tenant_id="acme")[1] is True


def test_stop_writes_every_buffered_decision(make_service, pg_url):
    svc = make_service(pg_url, TWO_MODELS)
    ids = [svc.route(RouteRequest(prompt=f"p {i}"), batched=True).decision_id
           for i in range(2000)]
    svc.stop()
    assert _count(pg_url, "SELECT count(*) FROM decisions") == len(ids)


def test_a_full_buffer_marks_decisions_unlogged_and_refuses_their_feedback(make_service,
                                                                          pg_url):
    svc = make_service(pg_url, TWO_MODELS, decision_buffer_max=2)
    lock = _TableLock(pg_url)
    try:
        routed = [svc.route(RouteRequest(prompt=f"p {i}"), batched=True) for i in range(5)]
    finally:
        lock.release()
    assert [d.logged for d in routed] == [True, True, False, False, False]
    assert svc.flush(10)
    assert svc.feedback(routed[0].decision_id, Outcome(reward=1.0))[1] is True
    with pytest.raises(NotFound, match="could not be logged"):
        svc.feedback(routed[4].decision_id, Outcome(reward=1.0))
    assert "3 decisions unlogged" in svc.ready()[1]["decision_log"]
    assert _count(pg_url, "SELECT count(*) FROM decisions") == 2


def test_http_route_then_feedback_on_batched_decisions(make_client, pg_url):
    client = make_client(pg_url, TWO_MODELS)
    for i in range(20):
        d = client.post("/v1/route", json={"prompt": f"q {i}"}).json()["decision_id"]
        r = client.post("/v1/feedback", json={"decision_id": d, "reward": 1.0})
        assert r.status_code == 201, r.text
        assert client.post("/v1/feedback", json={"decision_id": d, "reward": 1.0}).status_code == 200
        assert client.post("/v1/feedback", json={"decision_id": d, "reward": 0.0}).status_code == 409
