"""/v1/route and /v1/feedback are plain Starlette routes (``api.hotpath``); their answers must
be the ones an ordinary FastAPI route with the same schemas gives, for every kind of
request."""

from __future__ import annotations

import json

import pytest
from fastapi import FastAPI, HTTPException, Response
from fastapi.testclient import TestClient

from bandit_router.api import errors
from bandit_router.api.app import create_app
from bandit_router.api.deps import CallerDep, ServiceDep, get_principal
from bandit_router.api.routes.feedback import STATUS_CODE, record
from bandit_router.api.routes.route import decide
from bandit_router.api.schemas import FeedbackIn, FeedbackOut, RouteIn, RouteOut
from tests.conftest import TWO_MODELS, new_tenant

AUTH = "Authorization"


def fastapi_routes(service) -> FastAPI:
    """The same calls as ordinary FastAPI routes over the same schemas and functions, with
    the app's error handlers: the answers the hot routes must give word for word."""
    app = FastAPI()
    app.state.service, app.state.rate_limiter = service, None
    errors.install(app)

    @app.post("/v1/route")
    async def route(body: RouteIn, service: ServiceDep, caller: CallerDep) -> RouteOut:
        return await decide(body, service, caller)

    @app.post("/v1/feedback", status_code=201)
    async def feedback(body: FeedbackIn, service: ServiceDep, caller: CallerDep,
                       response: Response) -> FeedbackOut:
        out = await record(body, service, caller)
        response.status_code = STATUS_CODE[out.status]
        return out

    return app


@pytest.fixture
def two_apps(make_service, db_url):
    """The same started service behind the app and behind ordinary FastAPI routes."""
    svc = make_service(db_url, TWO_MODELS, admin_key="test-operator-key-0123456789",
                       max_prompt_chars=1000)
    hot = TestClient(create_app(service=svc), raise_server_exceptions=False)
    plain = TestClient(fastapi_routes(svc), raise_server_exceptions=False)
    with hot, plain:
        acme = new_tenant(hot, "acme")
        other = new_tenant(hot, "other")
        yield hot, plain, acme, other


def _both(hot, plain, path, *, body=None, raw=None, headers=None):
    kwargs = {"headers": headers or {}}
    if raw is not None:
        kwargs["content"] = raw
        kwargs["headers"] = {"Content-Type": "application/json", **kwargs["headers"]}
    else:
        kwargs["json"] = body
    return hot.post(path, **kwargs), plain.post(path, **kwargs)


def _same(a, b):
    assert a.status_code == b.status_code, (a.text, b.text)
    assert a.headers["content-type"] == b.headers["content-type"]
    assert a.json() == b.json()
    for name in ("www-authenticate", "retry-after"):
        assert a.headers.get(name) == b.headers.get(name)


def test_errors_are_word_for_word_those_of_the_fastapi_route(two_apps):
    hot, plain, acme, other = two_apps
    decision = hot.post("/v1/route", json={"prompt": "hi"}, headers=acme).json()["decision_id"]
    theirs = hot.post("/v1/route", json={"prompt": "hi"}, headers=other).json()["decision_id"]
    cases = [
        ("/v1/route", {"body": {"prompt": "hi"}}),  # no key
        ("/v1/route", {"body": {"prompt": "hi"}, "headers": {AUTH: "Bearer nope"}}),
        ("/v1/route", {"body": {"prompt": "hi"}, "headers": {AUTH: "Basic abc"}}),
        ("/v1/route", {"raw": b'{"prompt": "hi"', "headers": acme}),  # invalid JSON
        ("/v1/route", {"raw": b"[1, 2]", "headers": acme}),
        ("/v1/route", {"raw": b"", "headers": acme}),  # no body
        ("/v1/route", {"raw": b"[" * 100_000 + b"]" * 100_000, "headers": acme}),  # too deep
        ("/v1/route", {"raw": b'{"prompt": "\xff"}', "headers": acme}),  # not UTF-8
        ("/v1/route", {"raw": b'{"prompt": 3}', "headers": {}}),  # invalid, no key: 401
        ("/v1/route", {"raw": b'{"prompt": 3', "headers": {}}),  # not JSON, no key: 422
        ("/v1/route", {"body": {"prompt": 3}, "headers": acme}),
        ("/v1/route", {"body": {"prompt": "a", "messages": []}, "headers": acme}),
        ("/v1/route", {"body": {"prompt": "a", "colour": "red"}, "headers": acme}),
        ("/v1/route", {"raw": b'{"prompt": "a", "features": {"x": NaN}}', "headers": acme}),
        ("/v1/route", {"body": {"prompt": "a", "candidates": ["no-such"]}, "headers": acme}),
        ("/v1/route", {"body": {"prompt": "a" * 1001}, "headers": acme}),  # too long: 413
        ("/v1/feedback", {"body": {"decision_id": decision}, "headers": acme}),
        ("/v1/feedback", {"raw": b'{"decision_id": "%s", "reward": NaN}' % decision.encode(),
                          "headers": acme}),
        ("/v1/feedback", {"body": {"decision_id": "d-unknown", "reward": 1}, "headers": acme}),
        ("/v1/feedback", {"body": {"decision_id": theirs, "reward": 1}, "headers": acme}),
        ("/v1/feedback", {"body": {"decision_id": decision, "reward": 1}}),
    ]
    for path, kwargs in cases:
        _same(*_both(hot, plain, path, **kwargs))
    # Bodies json.loads and pydantic's JSON parser read apart (api.hotpath): the same status,
    # and the same words when it is an error.
    for path, raw in [
        ("/v1/route", b'{"prompt": "\\ud800"}'),  # a lone surrogate
        ("/v1/route", b'\xef\xbb\xbf{"prompt": "hi"}'),  # a byte order mark
        ("/v1/route", b'{"prompt": "hi", "metadata": {"n": ' + b"9" * 4301 + b"}}"),
        ("/v1/route", b'{"prompt": "hi", "metadata": {"d": ' + b"[" * 300 + b"]" * 300 + b"}}"),
        ("/v1/feedback", b'{"decision_id": "%s", "reward": 1, "error": "\\ud800"}'
         % decision.encode()),
    ]:
        a, b = _both(hot, plain, path, raw=raw, headers=acme)
        assert a.status_code == b.status_code, (raw[:40], a.text, b.text)
        if a.status_code >= 400:
            _same(a, b)


BODIES = [  # (schema, raw JSON) that json.loads and pydantic's JSON parser may read apart
    *((RouteIn, b'{"prompt": "x", "metadata": {"a": ' + b"9" * n + b"}}")
      for n in (4300, 4301, 5000)),
    (RouteIn, b'{"prompt": "x", "expected_output_tokens": ' + b"9" * 5000 + b"}"),
    (RouteIn, b'{"prompt": "x", "features": {"a": 1e400}}'),
    (RouteIn, b'{"prompt": "x", "metadata": {"a": 1e400, "b": -0.0, "c": 1e308, "d": 0.1}}'),
    (RouteIn, b'{"prompt": "x", "metadata": {"a": 1.0000000000000000000001, "b": 1, '
              b'"c": 12345678901234567890123, "d": 1E5}}'),
    (RouteIn, b'{"prompt": "x", "prompt": "y", "metadata": {"a": 1, "a": 2.0}}'),
    (RouteIn, b'{"prompt": "\\ud800"}'),
    (RouteIn, b'{"prompt": "\xed\xa0\x80"}'),
    (RouteIn, b'{"prompt": "\\ud83d\\ude00 a\\u0000b caf\xc3\xa9 \\u00e9\\n\\"\\\\\\/"}'),
    (RouteIn, b'\xef\xbb\xbf{"prompt": "x"}'),
    (RouteIn, b' \n{"prompt": "x"}  '),
    (RouteIn, b'{"prompt": "x"} x'),
    (RouteIn, b'{"prompt": NaN}'),
    (RouteIn, b'{"prompt": "x", "features": {"a": NaN}}'),
    (RouteIn, b'{"prompt": "x", "max_latency_ms": 5, "features": {"a": 1, "b": 2.5}}'),
    *((RouteIn, b'{"prompt": "x", "expected_output_tokens": %s}' % v)
      for v in (b"5.0", b'"5"', b"true", b"5")),
    (RouteIn, b'{"messages": [{"role": "user", "content": "hi", "extra": [1, {"b": 2}]}]}'),
    (RouteIn, b'{"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}'),
    (RouteIn, b'{"prompt": "x", "metadata": {"d": ' + b"[" * 300 + b"]" * 300 + b"}}"),
    (RouteIn, b'{"prompt": "x", "metadata": null, "candidates": ["a", "b"], "cascade": "c"}'),
    (RouteIn, b"[1, 2]"),
    (FeedbackIn, b'{"decision_id": "d-1", "reward": 1e-400, "latency_ms": 3}'),
    (FeedbackIn, b'{"decision_id": "d-1", "reward": 0.5, "error": "x\\ud800"}'),
    (FeedbackIn, b'{"decision_id": "d-1", "reward": 1, "input_tokens": ' + b"1" * 5000 + b"}"),
    *((FeedbackIn, b'{"decision_id": "d-1", "reward": %s}' % v)
      for v in (b"true", b'"1"', b"1", b"0.25")),
]


@pytest.mark.parametrize("schema, raw", BODIES)
def test_a_body_pydantic_reads_is_one_json_loads_reads_the_same(schema, raw):
    # The hot routes validate with pydantic's JSON parser first and fall back to json.loads
    # (FastAPI's reader, whose errors they answer) only when it refuses: what it accepts
    # must be what json.loads and validation accept, as the same model.
    try:
        fast = schema.model_validate_json(raw)
    except ValueError:
        return
    slow = schema.model_validate(json.loads(raw))
    assert repr(fast) == repr(slow)  # (repr: the types of metadata's numbers too)


def test_feedback_answers_match_through_record_duplicate_and_conflict(two_apps):
    hot, plain, acme, _ = two_apps
    for first, second in ((hot, plain), (plain, hot)):
        d = first.post("/v1/route", json={"prompt": "hi"}, headers=acme).json()["decision_id"]
        body = {"decision_id": d, "reward": 1.0, "latency_ms": 12.5}
        created = first.post("/v1/feedback", json=body, headers=acme)
        assert created.status_code == 201
        assert created.json()["status"] == "recorded"
        a, b = (first.post("/v1/feedback", json=body, headers=acme),
                second.post("/v1/feedback", json=body, headers=acme))
        _same(a, b)
        assert a.status_code == 200 and a.json()["feedback_id"] == created.json()["feedback_id"]
        _same(*_both(hot, plain, "/v1/feedback", body={**body, "reward": 0.0}, headers=acme))


def test_the_hot_answers_are_the_json_of_their_response_models(two_apps):
    # Written without building the models (RouteOut.json_of, FeedbackOut's fields): the bytes
    # are what pydantic makes of the same answer.
    hot, _, acme, _ = two_apps
    r = hot.post("/v1/route", json={"prompt": "Sum 2 and 2", "features": {"tier": 2}},
                 headers=acme)
    assert r.content == RouteOut(**r.json()).model_dump_json().encode()
    body = {"decision_id": r.json()["decision_id"], "reward": 0.25}
    for status in (201, 200):  # recorded, then an identical repeat
        f = hot.post("/v1/feedback", json=body, headers=acme)
        assert f.status_code == status
        assert f.content == FeedbackOut(**f.json()).model_dump_json().encode()


def test_a_route_answer_has_the_same_shape_and_headers(two_apps):
    hot, plain, acme, _ = two_apps
    a, b = _both(hot, plain, "/v1/route", body={"prompt": "Prove that 2 + 2 = 4.",
                                                "metadata": {"user": "u1"}}, headers=acme)
    assert a.status_code == b.status_code == 200
    assert a.headers["content-type"] == b.headers["content-type"] == "application/json"
    assert a.headers["x-request-id"]
    ja, jb = a.json(), b.json()
    assert set(ja) == set(jb)
    assert set(ja["explanation"]) == set(jb["explanation"])
    assert set(ja["explanation"]["models"]) == set(jb["explanation"]["models"]) == {
        "model-a", "model-b"}
    assert {k: type(v) for k, v in ja.items()} == {k: type(v) for k, v in jb.items()}
    # The given request id is echoed by both.
    r = hot.post("/v1/route", json={"prompt": "x"}, headers={**acme, "X-Request-ID": "abc-1"})
    assert r.headers["x-request-id"] == "abc-1"


def test_the_content_type_decides_whether_the_body_is_json(two_apps):
    hot, plain, acme, _ = two_apps
    body = json.dumps({"prompt": "hi"}).encode()
    for content_type in ("text/plain", "application/merge-patch+json", "APPLICATION/JSON",
                         "application/json;charset=latin-1", "application/jsonx", None):
        headers = dict(acme)
        if content_type is not None:
            headers["Content-Type"] = content_type
        a, b = hot.post("/v1/route", content=body, headers=headers), plain.post(
            "/v1/route", content=body, headers=headers)
        assert a.status_code == b.status_code, (content_type, a.text, b.text)
        if a.status_code != 200:
            _same(a, b)


def test_the_hot_paths_are_in_place(two_apps):
    # Put under Edge when FastAPI builds its stack (api.hotpath.install); with another
    # shape of FastAPI's stack the calls would still be served, by the whole stack.
    hot, _, acme, _ = two_apps
    assert hot.post("/v1/route", json={"prompt": "hi"}, headers=acme).status_code == 200
    layer, seen = hot.app.middleware_stack, []
    while layer is not None:
        seen.append(type(layer).__name__)
        layer = getattr(layer, "app", None)
    assert seen[seen.index("Edge") + 1] == "HotPaths", seen


def test_a_valid_request_is_answered_without_fastapi_dependency_solving(two_apps):
    """Dependency overrides act only on FastAPI's own routes: were the hot calls served by
    one, this override would refuse them."""
    hot, _, acme, _ = two_apps

    def refuse():
        raise HTTPException(418, "went through FastAPI's dependency solving")

    hot.app.dependency_overrides[get_principal] = refuse
    routed = hot.post("/v1/route", json={"prompt": "hi"}, headers=acme)
    assert routed.status_code == 200, routed.text
    fed = hot.post("/v1/feedback", json={"decision_id": routed.json()["decision_id"],
                                         "reward": 0.5}, headers=acme)
    assert fed.status_code == 201, fed.text


def test_fastapi_asks_whether_opentelemetry_is_configured_once_a_second(
        two_apps, monkeypatch):
    """FastAPI's per-request question (``NativeTelemetry.enabled``) is asked again only a
    second after its last answer (``hotpath._telemetry_check``), and its answer is FastAPI's:
    once it says yes, FastAPI's telemetry wraps the requests."""
    from types import SimpleNamespace

    from fastapi.telemetry._asgi import NativeTelemetry

    from bandit_router.api import hotpath

    asked, configured, now, wrapped = [], [False], [1000.0], []

    async def telemetry(self, *, app, scope, receive, send, legacy_otel=False):
        wrapped.append(scope["path"])
        await app(scope, receive, send)

    monkeypatch.setattr(NativeTelemetry, "enabled",
                        lambda self: asked.append(now[0]) or configured[0])
    monkeypatch.setattr(NativeTelemetry, "__call__", telemetry)
    monkeypatch.setattr(hotpath, "time", SimpleNamespace(monotonic=lambda: now[0]))
    hot, _, acme, _ = two_apps
    with TestClient(create_app(service=hot.app.state.service)) as client:
        for _ in range(3):
            assert client.post("/v1/route", json={"prompt": "hi"},
                               headers=acme).status_code == 200
        assert asked == [1000.0]  # the first request asked; the next two used its answer
        configured[0] = True
        now[0] += hotpath.TELEMETRY_RECHECK_S / 2
        assert client.post("/v1/route", json={"prompt": "hi"}, headers=acme).status_code == 200
        assert asked == [1000.0] and not wrapped
        now[0] += hotpath.TELEMETRY_RECHECK_S / 2
        assert client.post("/v1/route", json={"prompt": "hi"}, headers=acme).status_code == 200
        assert client.post("/v1/feedback", json={"decision_id": "x", "reward": 1},
                           headers=acme).status_code == 404
        assert asked == [1000.0, now[0]]
        assert wrapped == ["/v1/route", "/v1/feedback"]


def test_an_exception_is_answered_as_starlette_does_before_the_answer_began_only():
    """``HotPaths`` (under ``Edge``, which marks the scope once the answer begins) answers
    an exception with the app's handler while nothing was sent, and raises Starlette's
    ``RuntimeError`` once the answer has begun."""
    import asyncio

    from starlette.exceptions import HTTPException as StarletteHTTPException
    from starlette.middleware.exceptions import ExceptionMiddleware
    from starlette.responses import JSONResponse

    from bandit_router.api.edge import Edge
    from bandit_router.api.hotpath import HotPaths

    async def teapot(request, exc):
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)

    async def nothing(scope, receive, send):  # what the rest of the stack would serve
        raise AssertionError("not a hot path")

    async def refuse(scope, receive, send):
        raise StarletteHTTPException(418, "no")

    async def begin_then_refuse(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise StarletteHTTPException(418, "too late")

    hot = HotPaths(ExceptionMiddleware(nothing, handlers={StarletteHTTPException: teapot}), [])
    hot.routes = {"/refuse": refuse, "/late": begin_then_refuse}
    app = Edge(hot, max_body_bytes=1000, body_timeout_s=5.0)

    def call(path):
        sent = []

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": path, "headers": [],
                 "root_path": "", "query_string": b""}
        asyncio.run(app(scope, receive, send))
        return sent

    answer = call("/refuse")
    assert answer[0]["status"] == 418 and answer[1]["body"] == b'{"detail":"no"}'
    with pytest.raises(RuntimeError, match="response already started"):
        call("/late")
