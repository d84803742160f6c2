"""Streaming (SSE) through the proxy: pass-through, usage, cut streams and callers who leave."""

from __future__ import annotations

import json

import httpx

from tests.proxy.conftest import AUTH, service_of, usage

ASK = {"role": "user", "content": "Count to four"}


def events(text: str) -> list[str]:
    return [e.removeprefix("data: ") for e in text.split("\n\n") if e.startswith("data: ")]


def stream(client, model: str = "auto", **extra) -> httpx.Response:
    r = client.post("/v1/chat/completions",
                    json={"model": model, "messages": [ASK], "stream": True, **extra})
    assert r.status_code == 200, r.text
    return r


def content(evts: list[str]) -> str:
    return "".join(c["delta"].get("content") or "" for e in evts if e != "[DONE]"
                   for c in json.loads(e).get("choices", []))


def test_a_stream_passes_through_event_by_event_and_its_usage_is_recorded(proxy, upstreams):
    a, _ = upstreams
    r = stream(proxy)
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["x-bandit-router-model"] == "model-a"
    evts = events(r.text)
    assert content(evts) == "tok0 tok1 tok2 tok3" and evts[-1] == "[DONE]"
    # The proxy asked the upstream for usage, and kept that extra chunk from the caller.
    assert a.requests[-1].body["stream_options"] == {"include_usage": True}
    assert all(json.loads(e)["choices"] for e in evts[:-1])
    row = usage(service_of(proxy), r.headers["x-bandit-router-decision-id"])
    assert (row.status, row.input_tokens, row.output_tokens) == ("ok", 12, 4)
    assert row.attempts[-1]["usage"] == "upstream" and "first_byte_ms" in row.attempts[-1]


def test_a_caller_who_asked_for_usage_gets_the_usage_chunk(proxy):
    evts = events(stream(proxy, stream_options={"include_usage": True}).text)
    assert json.loads(evts[-2])["usage"]["completion_tokens"] == 4


def test_a_stream_cut_mid_way_ends_with_an_error_event_and_is_recorded_incomplete(proxy,
                                                                                 upstreams):
    a, _ = upstreams
    a.behaviour.cut_after = 2
    r = stream(proxy)
    evts = events(r.text)
    assert content(evts[:-1]) == "tok0 tok1 "
    assert json.loads(evts[-1])["error"]["code"] == "stream_incomplete"
    assert "[DONE]" not in evts
    row = usage(service_of(proxy), r.headers["x-bandit-router-decision-id"])
    assert row.status == "incomplete" and "broke off" in row.error
    assert (row.output_tokens, row.attempts[-1]["usage"]) == (2, "estimated")


def test_a_stream_that_fails_before_its_first_byte_falls_back(proxy, upstreams):
    a, _ = upstreams
    a.behaviour.status = 500
    r = stream(proxy)
    assert r.headers["x-bandit-router-model"] == "model-b"
    assert content(events(r.text)) == "tok0 tok1 tok2 tok3"


def test_a_caller_who_disconnects_is_billed_for_what_was_streamed(served_proxy, upstreams,
                                                                  wait_for):
    url, svc = served_proxy
    _, b = upstreams
    b.behaviour.chunks, b.behaviour.chunk_delay_s = 40, 0.05
    body = {"model": "model-b", "messages": [ASK], "stream": True}
    with httpx.Client(base_url=url, headers=AUTH, timeout=10) as client:
        with client.stream("POST", "/v1/chat/completions", json=body) as r:
            decision_id = r.headers["x-bandit-router-decision-id"]
            seen = 0
            for line in r.iter_lines():
                seen += line.startswith("data: ")
                if seen == 3:
                    break
    row = wait_for(lambda: usage(svc, decision_id))
    assert row.status == "cancelled" and row.error == "the caller disconnected before the end"
    assert 3 <= row.output_tokens < 40
    assert row.cost_usd > 0
