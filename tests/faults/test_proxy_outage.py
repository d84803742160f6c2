"""The proxy through a database outage (our own Postgres cluster, stopped and started):
answers go on where no database is needed, and every answered call's usage is recorded once
the database is back."""

from __future__ import annotations

import time

from bandit_router.store import migrate
from bandit_router.store.db import make_engine
from bandit_router.store.usage import get_usage
from tests.conftest import OPERATOR_KEY
from tests.proxy.conftest import KEY_ENV, PROXY_SETTINGS, SECRET, line_up
from tests.proxy.servers import FakeUpstream

OPERATOR = {"Authorization": f"Bearer {OPERATOR_KEY}"}
STRANGER = {"Authorization": "Bearer br_a_key_the_service_never_confirmed_0123"}
CHAT = {"model": "auto", "messages": [{"role": "user", "content": "hello"}]}


def test_answers_go_on_through_an_outage_and_their_usage_is_recorded_after_it(
        cluster, make_client, monkeypatch):
    engine = make_engine(cluster.url)
    migrate.upgrade(engine)
    engine.dispose()
    monkeypatch.setenv(KEY_ENV, SECRET)
    a, b = FakeUpstream("a").start(), FakeUpstream("b").start()
    try:
        client = make_client(cluster.url, line_up(a, b),
                             **{k: v for k, v in PROXY_SETTINGS.items() if k != "admin_key"})
        assert client.post("/v1/chat/completions", json=CHAT, headers=OPERATOR).status_code == 200
        cluster.stop()
        try:
            during = [client.post("/v1/chat/completions", json=CHAT, headers=OPERATOR)
                      for _ in range(3)]
            # A key the database never confirmed cannot be checked: OpenAI's shape, 503.
            refused = client.post("/v1/chat/completions", json=CHAT, headers=STRANGER)
            time.sleep(0.5)  # the recorder retries meanwhile
        finally:
            cluster.start()
        assert [r.status_code for r in during] == [200, 200, 200], [r.text for r in during]
        assert refused.status_code == 503 and int(refused.headers["retry-after"]) >= 1
        assert refused.json()["error"]["code"] == "database_unavailable"
        svc = client.app.state.service
        ids = [r.headers["x-bandit-router-decision-id"] for r in during]
        end = time.monotonic() + 20
        while True:
            with svc.sessions() as s:
                try:
                    rows = [get_usage(s, d) for d in ids]
                    break
                except Exception:
                    assert time.monotonic() < end, "usage of the calls answered during the " \
                                                   "outage was not recorded after it"
            time.sleep(0.2)
        assert [r.status for r in rows] == ["ok", "ok", "ok"]
    finally:
        a.server.stop()
        b.server.stop()
