"""What a caller of the served proxy sees besides the answer: one request id, streams without
fields it did not ask for, and no error in the logs when it hangs up early."""

from __future__ import annotations

import json
import logging
import socket
import time
from urllib.parse import urlsplit

import httpx

from tests.proxy.conftest import AUTH, usage

ASK = {"model": "auto", "messages": [{"role": "user", "content": "Say hi"}]}


def test_an_answer_carries_one_request_id_and_the_upstreams_under_its_own_name(served_proxy,
                                                                              upstreams):
    base, _ = served_proxy
    for body in (ASK, {**ASK, "stream": True}):
        r = httpx.post(base + "/v1/chat/completions", json=body,
                       headers={**AUTH, "X-Request-ID": "mine-123"})
        assert r.status_code == 200, r.text
        assert r.headers.get_list("x-request-id") == ["mine-123"]
        assert r.headers["x-bandit-router-upstream-request-id"].startswith("req_a_")


def test_stream_chunks_carry_no_null_usage_unless_the_caller_asked_for_usage(served_proxy,
                                                                             upstreams):
    base, _ = served_proxy
    a, _ = upstreams
    r = httpx.post(base + "/v1/chat/completions", json={**ASK, "stream": True}, headers=AUTH)
    chunks = [json.loads(e[6:]) for e in r.text.split("\n\n") if e.startswith("data: {")]
    # The proxy asked the upstream for usage (which then sends "usage": null in each chunk)...
    assert a.requests[-1].body["stream_options"] == {"include_usage": True}
    assert chunks and all("usage" not in c for c in chunks), chunks
    # ...and a caller that asks gets OpenAI's stream as it is, usage chunk included.
    r = httpx.post(base + "/v1/chat/completions", headers=AUTH, json={
        **ASK, "stream": True, "stream_options": {"include_usage": True}})
    chunks = [json.loads(e[6:]) for e in r.text.split("\n\n") if e.startswith("data: {")]
    assert [c["usage"] for c in chunks[:-1]] == [None] * (len(chunks) - 1)
    assert chunks[-1]["usage"]["completion_tokens"] == 4 and chunks[-1]["choices"] == []


def _hang_up(base: str, body: dict, after_s: float, read_first: bool = False,
             send_only: int | None = None) -> None:
    """Send a chat completion on a raw socket (only its first ``send_only`` bytes of body)
    and close it before the answer is whole."""
    u = urlsplit(base)
    raw = json.dumps(body).encode()
    with socket.create_connection((u.hostname, u.port)) as s:
        s.sendall((f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                   f"Authorization: {AUTH['Authorization']}\r\nContent-Type: application/json\r\n"
                   f"Content-Length: {len(raw)}\r\n\r\n").encode() + raw[:send_only])
        if read_first:
            s.settimeout(5)
            assert s.recv(100).startswith(b"HTTP/1.1 200")
        time.sleep(after_s)


def test_a_caller_that_hangs_up_is_no_error_in_the_logs_and_its_stream_is_recorded(
        served_proxy, upstreams, caplog):
    base, svc = served_proxy
    a, _ = upstreams
    caplog.set_level(logging.INFO)
    a.behaviour.latency_s = 0.5  # the caller leaves while the upstream is thinking
    _hang_up(base, ASK, 0.1, send_only=10)  # before its body is whole
    _hang_up(base, ASK, 0.1)
    a.behaviour.latency_s, a.behaviour.chunk_delay_s, a.behaviour.chunks = 0.0, 0.2, 10
    _hang_up(base, {**ASK, "stream": True}, 0.3, read_first=True)  # ...or mid-stream
    time.sleep(1.0)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [(r.name, r.getMessage()) for r in errors]
    # The server is fine and the cut stream is on record as cancelled by the caller.
    r = httpx.post(base + "/v1/chat/completions", json=ASK, headers=AUTH)
    assert r.status_code == 200
    streamed = [q for q in a.requests if q.body.get("stream")]
    assert streamed
    with svc.sessions() as s:
        from bandit_router.store.schema import UsageRow

        cancelled = s.query(UsageRow).filter_by(status="cancelled").all()
    assert cancelled and cancelled[0].error == "the caller disconnected before the end"
    assert usage(svc, r.headers["x-bandit-router-decision-id"]).status == "ok"
