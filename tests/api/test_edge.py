"""The edge middleware's body read deadline, on the ASGI interface itself: a body that stalls
or trickles is answered 408 at its own request's deadline, however many reads wait at once
and in whatever order they began; a cancelled request stays cancelled. (Over real sockets:
tests/faults/test_slow_clients.py.)"""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from bandit_router.api.edge import Edge


async def _read_body_then_answer(scope, receive, send) -> None:
    """An app that reads the whole body before answering (no exception handler)."""
    while True:
        message = await receive()
        if not message.get("more_body", False):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def _scope(path: str = "/v1/route") -> dict:
    return {"type": "http", "method": "POST", "path": path, "headers": [],
            "client": ("127.0.0.1", 1)}


async def _stalled() -> dict:
    await asyncio.Event().wait()  # a client that sent its headers and nothing more
    raise AssertionError


async def _serve(edge, receive, wait_s: float = 0.0,
                 path: str = "/v1/route") -> tuple[float, list[dict]]:
    """Call the edge after ``wait_s``; the seconds from the start to the answer's end."""
    start = time.monotonic()
    await asyncio.sleep(wait_s)
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    await edge(_scope(path), receive, send)
    return time.monotonic() - start, sent


def _status_and_detail(sent: list[dict]) -> tuple[int, str, dict]:
    return (sent[0]["status"], json.loads(sent[1]["body"])["detail"],
            dict(sent[0]["headers"]))


def test_a_stalled_body_is_answered_408_at_the_deadline():
    edge = Edge(_read_body_then_answer, max_body_bytes=1000, body_timeout_s=0.3)
    seconds, sent = asyncio.run(_serve(edge, _stalled))
    status, detail, headers = _status_and_detail(sent)
    assert status == 408
    assert detail == ("the request body did not arrive within 0.3 s "
                      "(BANDIT_ROUTER_REQUEST_BODY_TIMEOUT_S); send it at once")
    assert headers[b"connection"] == b"close" and b"x-request-id" in headers
    assert 0.3 <= seconds < 2.0


def test_a_trickled_body_is_cut_off_at_the_deadline_of_its_request_not_of_a_chunk():
    async def trickle() -> dict:
        await asyncio.sleep(0.05)
        return {"type": "http.request", "body": b"x", "more_body": True}

    edge = Edge(_read_body_then_answer, max_body_bytes=1000, body_timeout_s=0.4)
    seconds, sent = asyncio.run(_serve(edge, trickle))
    assert sent[0]["status"] == 408
    assert 0.4 <= seconds < 2.0


def test_reads_that_wait_together_are_each_cut_at_their_own_deadline():
    """A arrives first but reads its body late; B arrives later and reads at once. A's
    deadline is the earlier one, though its read began after B's."""

    async def app(scope, receive, send) -> None:
        if scope["path"] == "/late":
            await asyncio.sleep(0.8)
        await _read_body_then_answer(scope, receive, send)

    async def both():
        edge = Edge(app, max_body_bytes=1000, body_timeout_s=1.0)
        return await asyncio.gather(_serve(edge, _stalled, path="/late"),
                                    _serve(edge, _stalled, wait_s=0.4))

    (a_seconds, a_sent), (b_seconds, b_sent) = asyncio.run(both())
    assert a_sent[0]["status"] == b_sent[0]["status"] == 408
    assert 1.0 <= a_seconds < 1.3
    assert 1.4 <= b_seconds < 2.5


def test_many_waiting_reads_of_one_edge_are_each_cut_at_their_own_deadline():
    edge = Edge(_read_body_then_answer, max_body_bytes=1000, body_timeout_s=0.5)

    async def many():
        return await asyncio.gather(*[_serve(edge, _stalled, wait_s=0.1 * i)
                                      for i in range(6)])

    for i, (seconds, sent) in enumerate(asyncio.run(many())):
        assert sent[0]["status"] == 408
        assert 0.5 + 0.1 * i <= seconds < 0.5 + 0.1 * i + 0.5, (i, seconds)


def test_a_body_that_arrives_in_time_is_served():
    async def two_chunks():
        chunks = iter([b'{"prompt":', b'"hi"}'])

        async def receive() -> dict:
            await asyncio.sleep(0.05)
            body = next(chunks)
            return {"type": "http.request", "body": body, "more_body": body != b'"hi"}'}
        return receive

    async def run():
        edge = Edge(_read_body_then_answer, max_body_bytes=1000, body_timeout_s=0.5)
        served = await _serve(edge, await two_chunks())
        await asyncio.sleep(0.7)  # past the deadline: nothing is cancelled afterwards
        return served

    _, sent = asyncio.run(run())
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"ok"


def test_a_cancelled_request_is_not_answered_408():
    async def run():
        edge = Edge(_read_body_then_answer, max_body_bytes=1000, body_timeout_s=0.3)
        task = asyncio.ensure_future(_serve(edge, _stalled))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.4)  # the deadline passes: nothing else happens

    asyncio.run(run())
