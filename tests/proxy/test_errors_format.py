"""On the OpenAI-compatible path, even errors raised before the proxy runs (auth, body size,
validation) come in OpenAI's error shape, so the official SDK raises its usual exceptions."""

from __future__ import annotations

from tests.conftest import TWO_MODELS


def test_auth_and_size_errors_use_the_openai_shape(make_client, sqlite_url):
    client = make_client(sqlite_url, TWO_MODELS, max_body_bytes=2048)
    body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
    r = client.post("/v1/chat/completions", json=body, headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
    assert r.json()["error"]["type"] == "authentication_error"
    assert "invalid or revoked" in r.json()["error"]["message"]
    big = {**body, "messages": [{"role": "user", "content": "x" * 5000}]}
    r = client.post("/v1/chat/completions", json=big)
    assert r.status_code == 413 and "BANDIT_ROUTER_MAX_BODY_BYTES" in r.json()["error"]["message"]
    # Elsewhere the usual {"detail": ...}.
    r = client.post("/v1/route", json={"prompt": "x"}, headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and "detail" in r.json()
