"""The proxy in a real ``bandit-router serve`` process on PostgreSQL."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx

from bandit_router.store.db import make_engine, make_sessionmaker
from bandit_router.store.usage import get_usage
from tests.proxy.conftest import AUTH, KEY_ENV, OPERATOR_KEY, SECRET, _eventually


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_bandit_router_serve_proxies_with_fallback_and_records_usage(pg_url, upstreams, tmp_path):
    a, b = upstreams
    a.behaviour.status = 503
    models = tmp_path / "models.toml"
    # a is free and the cost weight huge, so a is always tried first (and fails).
    models.write_text("".join(
        f'[[models]]\nid = "{u.name}"\ninput_price_per_mtok = {price}\n'
        f'output_price_per_mtok = {2 * price}\ncontext_window = 8000\n'
        f'base_url = "{u.base_url}"\napi_key_env = "{KEY_ENV}"\n\n'
        for u, price in ((a, 0.0), (b, 1.0))))
    port = _free_port()
    env = {**os.environ, KEY_ENV: SECRET, "BANDIT_ROUTER_ADMIN_KEY": OPERATOR_KEY,
           "BANDIT_ROUTER_LOG_LEVEL": "WARNING",
           "BANDIT_ROUTER_COST_WEIGHT": "1000000", "BANDIT_ROUTER_PROPENSITY_FLOOR": "0"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bandit_router.cli", "serve", "--models", str(models), "--port",
         str(port), "--database-url", pg_url], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.2)
        answers = [httpx.post(f"{url}/v1/chat/completions", headers=AUTH, timeout=10, json={
            "model": "auto", "messages": [{"role": "user", "content": "hi"}]}) for _ in range(4)]
        assert [r.status_code for r in answers] == [200] * 4
        assert {r.json()["choices"][0]["message"]["content"] for r in answers} == {"answer from b"}
        assert len(a.requests) == 4
        # Usage rows are committed off the answer's path, a few tens of milliseconds later.
        engine = make_engine(pg_url)
        with make_sessionmaker(engine)() as s:
            rows = [_eventually(lambda d=r.headers["x-bandit-router-decision-id"]:
                                get_usage(s, d)) for r in answers]
        engine.dispose()
        assert None not in rows, "a usage row was not committed within 5 s"
        assert all(r.status == "ok" and r.model_id == "b" for r in rows)
        assert all([(t["model"], t["status"]) for t in r.attempts] == [("a", 503), ("b", 200)]
                   for r in rows)
        assert all(r.cost_usd == (12 * 1.0 + 4 * 2.0) / 1e6 for r in rows)
    finally:
        proc.terminate()
        out = proc.communicate(timeout=20)[0].decode()
    assert SECRET not in out
