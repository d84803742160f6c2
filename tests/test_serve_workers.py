"""``serve --workers 2`` as a user sees it: SIGTERM keeps every answered decision, and a second
server cannot take the port of a running one."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess

import sqlalchemy as sa

from tests.conftest import EXAMPLE_MODELS
from tests.test_cli import BIN, _serve, _wait_ready

KEY = "given-operator-key"


def _env(pg_url: str) -> dict[str, str]:
    return {"BANDIT_ROUTER_DATABASE_URL": pg_url, "BANDIT_ROUTER_MODELS_FILE": str(EXAMPLE_MODELS),
            "BANDIT_ROUTER_ADMIN_KEY": KEY}


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


def _stop(proc) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(60)


def test_sigterm_keeps_every_decision_two_workers_answered(tmp_path, pg_url):
    proc, url = _serve(tmp_path, "--workers", "2", env=_env(pg_url))
    try:
        _wait_ready(url, proc, timeout=60)
        answered = _route_on_fresh_connections(url, 40)
    finally:
        code = _stop(proc)
    assert code == 0
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        stored = set(conn.execute(sa.text("SELECT id FROM decisions")).scalars())
    engine.dispose()
    assert {d for _, d in answered} <= stored


def test_a_second_server_cannot_join_a_served_port(tmp_path, pg_url):
    """A second ``serve`` on a served port says so in one line and exits, instead of
    starting workers that cannot listen."""
    proc, url = _serve(tmp_path, "--workers", "2", env=_env(pg_url))
    try:
        _wait_ready(url, proc, timeout=60)
        port = url.rsplit(":", 1)[1]
        second = subprocess.run(
            [str(BIN), "serve", "--port", port, "--workers", "2"],
            env={**os.environ, **_env(pg_url)}, capture_output=True,
            text=True, timeout=60)
        assert second.returncode != 0
        assert f"cannot listen on 127.0.0.1:{port}" in second.stderr
    finally:
        assert _stop(proc) == 0
