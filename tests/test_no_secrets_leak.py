"""No secret — operator key, app keys, the database password — appears in logs, error bodies
or metrics, over a full run of a real server that also sees bad keys and bad requests."""

from __future__ import annotations

import httpx

from tests.conftest import EXAMPLE_MODELS
from tests.test_cli import _serve, _wait_ready

DB_PASSWORD = "Db-Pass-7f3a9c1e"  # local Postgres uses trust auth: any password connects


def test_secrets_never_appear_in_logs_bodies_or_metrics(tmp_path, pg_url):
    url_with_password = pg_url.replace("postgres@", f"postgres:{DB_PASSWORD}@")
    operator = "operator-key-5b1d8e2f9a"
    proc, url = _serve(tmp_path, "--models", str(EXAMPLE_MODELS),
                       env={"BANDIT_ROUTER_DATABASE_URL": url_with_password,
                            "BANDIT_ROUTER_ADMIN_KEY": operator,
                            "BANDIT_ROUTER_LOG_LEVEL": "DEBUG"})
    seen: list[str] = []
    try:
        _wait_ready(url, proc)
        admin = {"Authorization": f"Bearer {operator}"}

        def call(method, path, **kw):
            r = httpx.request(method, url + path, timeout=10, **kw)
            seen.append(r.text + " " + " ".join(f"{k}: {v}" for k, v in r.headers.items()))
            return r

        call("POST", "/v1/tenants", json={"id": "shop", "name": "Shop"}, headers=admin)
        key = call("POST", "/v1/tenants/shop/keys", headers=admin).json()["key"]
        seen.pop()  # the one answer that must show the key
        app = {"Authorization": f"Bearer {key}"}
        d = call("POST", "/v1/route", json={"prompt": "hello"}, headers=app).json()
        call("POST", "/v1/feedback", json={"decision_id": d["decision_id"], "reward": 1},
             headers=app)
        # Near-misses and misuse: wrong keys must not be echoed back or logged.
        call("POST", "/v1/route", json={"prompt": "x"}, headers={"Authorization": f"Bearer {key}x"})
        call("POST", "/v1/route", json={"prompt": "x"},
             headers={"Authorization": f"Bearer {operator[:-1]}"})
        call("POST", "/v1/tenants", json={"name": "x"}, headers=app)
        call("POST", "/v1/feedback", json={"decision_id": d["decision_id"], "reward": 7},
             headers=app)
        call("GET", "/v1/tenants/shop/usage", headers=app)
        call("GET", "/readyz")
        call("GET", "/metrics")
        call("GET", "/v1/status", headers=admin)
        call("GET", "/openapi.json")
    finally:
        proc.terminate()
        output = proc.communicate(timeout=15)[0].decode()
    assert '"decision_id"' in output  # the logs were really captured (JSON lines)
    everything = output + "\n".join(seen)
    for secret in (operator, key, DB_PASSWORD, operator[:-1], key + "x"):
        assert secret not in everything, f"a secret leaked: {secret[:6]}…"
