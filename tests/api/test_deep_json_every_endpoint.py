"""A deeply nested JSON body is a client's mistake: every endpoint that takes a body answers
it with a 4xx and a message, never a 500 (Python's recursion gives out on such bodies)."""

from __future__ import annotations

import re

import pytest
from tests.conftest import ADMIN, TWO_MODELS


def _deep(levels: int) -> bytes:
    return b'{"a":' * levels + b"1" + b"}" * levels


def _deep_chat(levels: int) -> bytes:
    """A chat completion request that is valid but for one deeply nested extra field."""
    return (b'{"model":"auto","messages":[{"role":"user","content":"hi"}],"extra":'
            + _deep(levels) + b"}")


def _endpoints(client) -> list[tuple[str, str]]:
    """Every operation of the OpenAPI schema that takes a body, path parameters filled in."""
    paths = client.get("/openapi.json").json()["paths"]
    return [(m.upper(), re.sub(r"\{[^}]+\}", "x", p)) for p, ops in paths.items() for m in ops
            if m in ("post", "put", "patch")]


@pytest.fixture
def client(make_client, pg_url):
    return make_client(pg_url, TWO_MODELS)


def test_every_endpoint_answers_a_deeply_nested_body_with_a_4xx(client):
    endpoints = _endpoints(client)
    assert ("POST", "/v1/chat/completions") in endpoints and ("POST", "/v1/route") in endpoints
    assert len(endpoints) >= 8
    failures = []
    for method, path in endpoints:
        for body in (_deep(500), _deep(20_000), _deep_chat(500), _deep_chat(20_000)):
            for headers in (ADMIN, {}):  # the operator key, and the app key of the client
                r = client.request(method, path, content=body,
                                   headers={"content-type": "application/json", **headers})
                if r.status_code >= 500 or not r.text:  # (a body-less POST may ignore it)
                    failures.append((method, path, len(body), r.status_code, r.text[:200]))
    assert not failures, failures


def test_the_proxy_says_the_body_is_nested_too_deeply(client):
    r = client.post("/v1/chat/completions", content=_deep_chat(20_000),
                    headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert "levels deep" in r.json()["error"]["message"]
