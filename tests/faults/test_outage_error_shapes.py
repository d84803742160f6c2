"""A database outage is answered in the shape each path promises: OpenAI's on the proxy."""

from __future__ import annotations

from bandit_router.store import migrate
from bandit_router.store.db import make_engine
from tests.conftest import TWO_MODELS

STRANGER = {"Authorization": "Bearer br_a_key_the_service_never_confirmed_0123"}
CHAT = {"model": "auto", "messages": [{"role": "user", "content": "hello"}]}


def test_an_outage_while_authenticating_answers_503_in_each_paths_error_shape(cluster,
                                                                               make_client):
    engine = make_engine(cluster.url)
    migrate.upgrade(engine)
    engine.dispose()
    client = make_client(cluster.url, TWO_MODELS)
    cluster.stop()
    try:
        chat = client.post("/v1/chat/completions", json=CHAT, headers=STRANGER)
        route = client.post("/v1/route", json={"prompt": "hello"}, headers=STRANGER)
    finally:
        cluster.start()
    # The OpenAI SDKs read {"error": {...}} and honour Retry-After.
    assert chat.status_code == 503 and int(chat.headers["retry-after"]) >= 1
    error = chat.json()["error"]
    assert "database is unavailable" in error["message"]
    assert error["type"] == "server_error" and error["code"] == "database_unavailable"
    assert set(error) == {"message", "type", "code", "param"}
    assert route.status_code == 503 and int(route.headers["retry-after"]) >= 1
    assert "database is unavailable" in route.json()["detail"]
