"""``serve --workers 2`` with ``BANDIT_ROUTER_REUSE_PORT=true`` (one listening socket per worker,
SO_REUSEPORT), as a user sees it: fresh connections reach both workers, a worker that dies is
replaced on its socket, SIGTERM keeps every answered decision, and a second server cannot join
the port (whichever way the first listens)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from bandit_router.api.workers import reuse_port_supported
from tests.conftest import EXAMPLE_MODELS
from tests.test_cli import BIN, _serve, _wait_ready

pytestmark = pytest.mark.skipif(not reuse_port_supported(), reason="SO_REUSEPORT is Linux's")

KEY = "given-operator-key"


def _env(pg_url: str, reuse_port: bool = True) -> dict[str, str]:
    return {"BANDIT_ROUTER_DATABASE_URL": pg_url, "BANDIT_ROUTER_MODELS_FILE": str(EXAMPLE_MODELS),
            "BANDIT_ROUTER_ADMIN_KEY": KEY, "BANDIT_ROUTER_REUSE_PORT": str(reuse_port).lower()}


def _route_on_fresh_connections(url: str, n: int, timeout: float = 10
                                ) -> list[tuple[str, str]]:
    """``n`` routes, each on a new connection: (the answering process's id prefix, decision id).
    A request id's first 20 hex digits are drawn once per process (bandit_router.unique_ids)."""
    port = int(url.rsplit(":", 1)[1])
    out = []
    for _ in range(n):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        conn.request("POST", "/v1/route", body=json.dumps({"prompt": "hello"}),
                     headers={"Authorization": f"Bearer {KEY}",
                              "Content-Type": "application/json"})
        r = conn.getresponse()
        body = json.loads(r.read())
        assert r.status == 200, body
        out.append((r.getheader("x-request-id")[:20], body["decision_id"]))
        conn.close()
    return out


def _workers(pid: int) -> list[int]:
    """The server's worker processes (not multiprocessing's resource tracker)."""
    kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(k) for k in kids
            if b"spawn_main" in Path(f"/proc/{k}/cmdline").read_bytes()]


def _stop(proc) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(60)


def test_fresh_connections_reach_both_workers_and_sigterm_keeps_every_decision(tmp_path,
                                                                                pg_url):
    proc, url = _serve(tmp_path, "--workers", "2", env=_env(pg_url))
    try:
        _wait_ready(url, proc, timeout=60)
        answered = _route_on_fresh_connections(url, 40)
    finally:
        code = _stop(proc)
    by_process = Counter(p for p, _ in answered)
    assert len(by_process) == 2 and min(by_process.values()) >= 5, by_process
    assert code == 0
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        stored = set(conn.execute(sa.text("SELECT id FROM decisions")).scalars())
    engine.dispose()
    assert {d for _, d in answered} <= stored


def test_a_worker_that_dies_is_replaced_on_its_socket(tmp_path, pg_url):
    """Connections the kernel hashes to a dead worker's socket are served by its
    replacement, not left waiting."""
    proc, url = _serve(tmp_path, "--workers", "2", env=_env(pg_url))
    try:
        _wait_ready(url, proc, timeout=60)
        workers = _workers(proc.pid)
        assert len(workers) == 2
        os.kill(workers[0], signal.SIGKILL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            now = _workers(proc.pid)
            if len(now) == 2 and workers[0] not in now:
                break
            time.sleep(0.2)
        # Those hashed to the replacement's socket wait in its queue while it starts.
        answered = _route_on_fresh_connections(url, 40, timeout=60)
        assert len({p for p, _ in answered}) == 2
    finally:
        assert _stop(proc) == 0


@pytest.mark.parametrize("reuse_port", [True, False])
def test_a_second_server_cannot_join_a_served_port(tmp_path, pg_url, reuse_port):
    """SO_REUSEPORT would let another process bind the same port and take half of the
    connections: serve refuses a port that is in use instead."""
    proc, url = _serve(tmp_path, "--workers", "2", env=_env(pg_url, reuse_port))
    try:
        _wait_ready(url, proc, timeout=60)
        port = url.rsplit(":", 1)[1]
        second = subprocess.run(
            [str(BIN), "serve", "--port", port, "--workers", "2"],
            env={**os.environ, **_env(pg_url, reuse_port=True)}, capture_output=True,
            text=True, timeout=60)
        assert second.returncode != 0
        assert f"cannot listen on 127.0.0.1:{port}" in second.stderr
    finally:
        assert _stop(proc) == 0
