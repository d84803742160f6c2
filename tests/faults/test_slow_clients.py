"""Slow clients (a body trickled a few bytes at a time) are answered 408 once
BANDIT_ROUTER_REQUEST_BODY_TIMEOUT_S has passed, and let go of, instead of holding a
connection for as long as they like; other clients are served meanwhile."""

from __future__ import annotations

import socket
import threading
import time

import httpx

from tests.faults.conftest import ADMIN


def _trickle(port: int, path: str, auth: str, out: list) -> None:
    """Announce a 1000-byte body, send 10 bytes, then wait for the server to answer."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  f"Authorization: {auth}\r\nContent-Length: 1000\r\n\r\n".encode())
        s.sendall(b'{"prompt":')
        answer = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:  # the server closed the connection
                break
            answer += chunk
    out.append((path, time.monotonic() - start, answer.split(b"\r\n", 1)[0], answer))


def test_a_body_that_does_not_arrive_in_time_gets_408_and_the_connection_is_closed(
        pg_url, make_server):
    server = make_server(pg_url, request_body_timeout_s=1.0)
    server.start()
    key = server.app_key()
    results: list = []
    slow = [threading.Thread(target=_trickle, args=(server.port, path, auth, results))
            for path, auth in [("/v1/route", key["Authorization"]),
                               ("/v1/feedback", key["Authorization"]),
                               ("/v1/tenants", ADMIN["Authorization"]),
                               ("/v1/chat/completions", key["Authorization"])] * 5]
    for t in slow:
        t.start()
    with httpx.Client(base_url=server.base, headers=key, timeout=10) as c:
        served = [c.post("/v1/route", json={"prompt": f"meanwhile {i}"}).status_code
                  for i in range(20)]
    for t in slow:
        t.join(30)
    assert served == [200] * 20
    assert len(results) == 20
    for path, seconds, status_line, answer in results:
        assert b" 408 " in status_line, (path, answer[:300])
        assert b"REQUEST_BODY_TIMEOUT_S" in answer, (path, answer[:300])
        assert 0.9 <= seconds < 5, (path, seconds)
