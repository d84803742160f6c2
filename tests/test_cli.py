"""The quick start, as a user runs it: real `bandit-router` processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import EXAMPLE_MODELS

BIN = Path(sys.executable).parent / "bandit-router"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(url: str, proc, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, proc.stdout.read().decode()
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("server did not become ready")


def user_env(tmp_path) -> dict[str, str]:
    """The environment of a user whose data folder is in ``tmp_path`` (where the default
    database lives), so that no test touches the real one."""
    return {**os.environ, "XDG_DATA_HOME": str(tmp_path / "user-data")}


def default_db(tmp_path) -> Path:
    return tmp_path / "user-data" / "bandit-router" / "bandit-router.db"


def _serve(tmp_path, *args, env=None, cwd=None):
    port = _free_port()
    proc = subprocess.Popen([str(BIN), "serve", "--port", str(port), *args],
                            cwd=cwd or tmp_path, env={**user_env(tmp_path), **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return proc, f"http://127.0.0.1:{port}"


def _printed_key(proc) -> str:
    """The operator key `serve` prints once on a new database."""
    for _ in range(200):
        line = proc.stdout.readline().decode()
        if "operator key" in line:
            proc.stdout.readline()
            return proc.stdout.readline().decode().strip()
    raise AssertionError("serve did not print an operator key")


def test_quick_start_on_embedded_sqlite_prints_an_operator_key_once(tmp_path):
    proc, url = _serve(tmp_path, "--models", str(EXAMPLE_MODELS))
    try:
        admin = {"Authorization": f"Bearer {_printed_key(proc)}"}
        _wait_ready(url, proc)
        assert httpx.post(url + "/v1/route", json={"prompt": "hi"}).status_code == 401
        # The README's operator steps: a tenant, an app key, then route and feedback.
        assert httpx.post(url + "/v1/tenants", json={"id": "shop", "name": "Shop"},
                          headers=admin).status_code == 201
        key = httpx.post(url + "/v1/tenants/shop/keys", headers=admin).json()["key"]
        app = {"Authorization": f"Bearer {key}"}
        assert len(httpx.get(url + "/v1/models", headers=app).json()["models"]) >= 4
        d = httpx.post(url + "/v1/route", json={"prompt": "Summarise this email"},
                       headers=app).json()
        r = httpx.post(url + "/v1/feedback", json={"decision_id": d["decision_id"], "reward": 1},
                       headers=app)
        assert r.status_code == 201
        assert default_db(tmp_path).exists() and not (tmp_path / "bandit-router.db").exists()
    finally:
        proc.terminate()
        proc.wait(10)
    # A restart on the same database keeps the key, prints none, and says how to get another.
    proc, url = _serve(tmp_path)
    try:
        _wait_ready(url, proc)
        assert httpx.get(url + "/v1/tenants", headers=admin).status_code == 200
    finally:
        proc.terminate()
        out = proc.communicate(timeout=10)[0].decode()
    assert admin["Authorization"].removeprefix("Bearer ") not in out and "br_" not in out
    assert "`bandit-router operator-key` issues another" in out


def test_tenants_cli_creates_a_tenant_key_and_budget(tmp_path, pg_url):
    def run(*args):
        out = subprocess.run([str(BIN), *args, "--database-url", pg_url], capture_output=True,
                             text=True)
        assert out.returncode == 0, out.stderr
        return out.stdout

    assert run("tenants", "create", "Shop", "--id", "shop").strip() == "shop"
    printed = run("tenants", "key", "shop")
    assert "br_" in printed
    run("tenants", "budget", "shop", "--period", "day", "--limit-usd", "5",
        "--on-exhausted", "reject")
    listing = run("tenants", "list")
    assert "shop" in listing and "5.0 USD/day (reject)" in listing
    bad = subprocess.run([str(BIN), "tenants", "budget", "shop", "--period", "week",
                          "--limit-usd", "5", "--database-url", pg_url], capture_output=True,
                         text=True)
    assert bad.returncode == 2 and "hour|day|month" in bad.stderr


def test_serve_on_postgres_from_the_environment(tmp_path, pg_url):
    proc, url = _serve(tmp_path, env={"BANDIT_ROUTER_DATABASE_URL": pg_url,
                                      "BANDIT_ROUTER_MODELS_FILE": str(EXAMPLE_MODELS),
                                      "BANDIT_ROUTER_ADMIN_KEY": "given-operator-key"})
    try:
        _wait_ready(url, proc)
        admin = {"Authorization": "Bearer given-operator-key"}
        d = httpx.post(url + "/v1/route", json={"prompt": "hi"}, headers=admin).json()
        assert d["model"]
        assert not (tmp_path / "bandit-router.db").exists() and not default_db(tmp_path).exists()
    finally:
        proc.terminate()
        proc.wait(10)


def test_models_command_rejects_a_broken_file(tmp_path):
    bad = tmp_path / "m.toml"
    bad.write_text('[[models]]\nid = "x"\ninput_price_per_mtok = -1\n'
                   'output_price_per_mtok = 1\ncontext_window = 10\n')
    out = subprocess.run([str(BIN), "models", str(bad)], capture_output=True, text=True)
    assert out.returncode == 2
    assert "input_price_per_mtok" in out.stderr
    ok = subprocess.run([str(BIN), "models", str(EXAMPLE_MODELS)], capture_output=True, text=True)
    assert ok.returncode == 0 and "gpt-4o-mini" in ok.stdout


def test_migrate_is_idempotent(pg_url):
    for _ in range(2):
        out = subprocess.run([str(BIN), "migrate", "--database-url", pg_url],
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stderr


def test_refit_every_keeps_refitting_new_feedback_until_terminated(make_client, pg_url):
    import json
    import signal

    from tests.conftest import TWO_MODELS, route

    client = make_client(pg_url, TWO_MODELS)

    def feedback(n):
        for i in range(n):
            d = route(client, f"question {i}")["decision_id"]
            assert client.post("/v1/feedback", json={"decision_id": d, "reward": 1}
                               ).status_code == 201

    feedback(3)
    proc = subprocess.Popen([str(BIN), "refit", "--every", "0.3", "--database-url", pg_url],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = json.loads(proc.stdout.readline())
        assert first["reason"] == "refitted" and first["new_rows"] == 3
        assert json.loads(proc.stdout.readline())["reason"] == "up to date"
        feedback(2)
        while (line := json.loads(proc.stdout.readline()))["reason"] != "refitted":
            assert proc.poll() is None
        assert line["new_rows"] == 2 and line["version"] > first["version"]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0, proc.stderr.read()
