"""Malformed and hostile input gets a clear 4xx and stores nothing — never a 5xx.

Run on PostgreSQL, which refuses NUL characters and invalid Unicode that SQLite would take.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.conftest import ADMIN, TWO_MODELS, route

JSON = {"content-type": "application/json"}


@pytest.fixture
def client(make_client, pg_url):
    return make_client(pg_url, TWO_MODELS, max_body_bytes=200_000)


def _post(client, path, raw: bytes, headers=None):
    return client.post(path, content=raw, headers={**JSON, **(headers or {})})


@pytest.mark.parametrize("name,raw,status", [
    ("deeply nested JSON", b'{"prompt":"x","metadata":' + b'{"a":' * 20000 + b"1" + b"}" * 20001,
     400),
    ("not UTF-8", b'{"prompt":"\xff\xfe"}', 400),
    ("an integer of 5000 digits", b'{"prompt":"x","expected_output_tokens":' + b"9" * 5000 + b"}",
     400),
    ("a JSON array", b"[1, 2]", 422),
    ("an empty body", b"", 422),
    ("NaN", b'{"prompt":"x","features":{"a":NaN}}', 422),
    ("a huge features map", ('{"prompt":"x","features":{%s}}' % ",".join(
        f'"f{i}":1' for i in range(5000))).encode(), 422),
    ("NUL in metadata", b'{"prompt":"x","metadata":{"a":"b\\u0000"}}', 422),
    ("a lone surrogate in metadata", b'{"prompt":"x","metadata":{"a":"\\ud800"}}', 422),
    ("SQL in a candidate", b'{"prompt":"x","candidates":["a\'; DROP TABLE models;--"]}', 422),
    ("an oversized body", b'{"prompt":"' + b"a" * 300_000 + b'"}', 413),
])
def test_bad_route_bodies_get_a_4xx_with_a_message(client, name, raw, status):
    r = _post(client, "/v1/route", raw)
    assert r.status_code == status, (name, r.status_code, r.text[:300])
    assert r.json()["detail"], name


def test_prompts_with_odd_characters_are_routed(client):
    for text in ("x\u0000y", "\ud800 lone surrogate", "emoji 🚀 and 日本語", "' OR 1=1; --"):
        raw = ('{"prompt": %s}' % __import__("json").dumps(text)).encode()
        assert _post(client, "/v1/route", raw).status_code == 200, text


def test_bad_feedback_is_refused_and_nothing_is_stored(client):
    d = route(client)["decision_id"]
    for raw in (b'{"decision_id":"\\u0000","reward":1}',
                b'{"decision_id":"%s","reward":1,"error":"bad\\u0000"}' % d.encode(),
                b'{"decision_id":"%s","reward":1,"error":"\\udfff"}' % d.encode(),
                b'{"decision_id":"%s","reward":1,"input_tokens":-1}' % d.encode(),
                b'{"decision_id":"x\' OR \'1\'=\'1","reward":1}'):
        r = _post(client, "/v1/feedback", raw)
        assert r.status_code == 422, (raw, r.text)
        assert r.json()["detail"]
    engine = sa.create_engine(client.app.state.service.settings.database_url.get_secret_value())
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM feedback")).scalar() == 0
        assert c.execute(sa.text("SELECT count(*) FROM models")).scalar() == 2  # no DROP ran
    engine.dispose()


def test_operator_inputs_are_validated_too(client):
    cases = [
        ("post", "/v1/tenants", b'{"name":"a\\u0000b"}', 422),
        ("post", "/v1/tenants", b'{"name":"x","id":"../etc"}', 422),
        ("put", "/v1/models/m", b'{"input_price_per_mtok":1e400,"output_price_per_mtok":1,'
                                b'"context_window":5}', 422),
        ("put", "/v1/models/m", b'{"input_price_per_mtok":1,"output_price_per_mtok":1,'
                                b'"context_window":5,"tags":["\\u0000"]}', 422),
        ("get", "/v1/tenants/%00", None, 422),
        ("delete", "/v1/keys/%00", None, 422),
        ("get", "/v1/decisions/%00", None, 422),
    ]
    for method, path, raw, status in cases:
        r = client.request(method, path, content=raw, headers={**JSON, **ADMIN})
        assert r.status_code == status, (path, raw, r.status_code, r.text[:200])
        assert r.json()["detail"]


def test_rate_limit_answers_429_with_retry_after(make_client, sqlite_url):
    client = make_client(sqlite_url, TWO_MODELS, rate_limit_per_s=1.0, rate_limit_burst=3)
    codes = [client.post("/v1/route", json={"prompt": "x"}).status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
    r = client.post("/v1/route", json={"prompt": "x"})
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert "rate limit" in r.json()["detail"]
    # Another key has its own bucket.
    assert client.get("/v1/tenants", headers=ADMIN).status_code == 200


def test_rate_limiting_is_off_by_default(client):
    assert all(client.post("/v1/route", json={"prompt": "x"}).status_code == 200
               for _ in range(60))
