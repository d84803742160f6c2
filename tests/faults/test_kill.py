"""SIGKILL in the middle of a stream of feedback: after a restart every feedback that got a
2xx is in the database exactly once, and retries of the unacknowledged ones succeed."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import sqlalchemy as sa


def test_sigkill_loses_no_acknowledged_feedback_and_retries_succeed(pg_url, make_server):
    server = make_server(pg_url)
    server.start()
    key = server.app_key()
    with httpx.Client(base_url=server.base, headers=key, timeout=10) as c:
        decisions = [c.post("/v1/route", json={"prompt": f"q {i}"}).json()["decision_id"]
                     for i in range(400)]
    time.sleep(0.5)  # the decision log flushes within milliseconds

    acked: dict[str, int] = {}
    lock = threading.Lock()

    def post(d: str) -> None:
        try:
            r = httpx.post(server.base + "/v1/feedback", headers=key, timeout=10,
                           json={"decision_id": d, "reward": 0.5, "latency_ms": 200.0})
        except httpx.HTTPError:
            return  # no answer: not acknowledged
        if r.status_code in (200, 201):
            with lock:
                acked[d] = r.json()["feedback_id"]

    def kill_mid_stream() -> None:
        """SIGKILL once some feedback is acknowledged (a fixed delay lands before the first
        answer on a loaded machine, where the first eight take over 0.5 s)."""
        deadline = time.monotonic() + 30
        while len(acked) < 40 and time.monotonic() < deadline:
            time.sleep(0.005)
        server.kill()

    killer = threading.Thread(target=kill_mid_stream)
    killer.start()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(post, decisions))
    killer.join()
    assert 0 < len(acked) < len(decisions), "the kill must land in the middle of the stream"

    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        stored = dict(conn.execute(sa.text("SELECT decision_id, id FROM feedback")).all())
    assert {d: stored.get(d) for d in acked} == acked  # every 2xx is committed

    server.start()  # same database, same port
    with httpx.Client(base_url=server.base, headers=key, timeout=10) as c:
        for d in decisions:  # the client retries everything; repeats are idempotent
            r = c.post("/v1/feedback", json={"decision_id": d, "reward": 0.5,
                                             "latency_ms": 200.0})
            assert r.status_code == (200 if d in stored else 201), (d, r.text)
            if d in acked:
                assert r.json()["feedback_id"] == acked[d]
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT decision_id FROM feedback")).scalars().all()
    engine.dispose()
    assert sorted(rows) == sorted(decisions)  # each exactly once
