"""Fuzz every operation of the OpenAPI schema with schemathesis against a running server on
Postgres: no answer may be a 5xx, and every 4xx must say what is wrong.

The proxy endpoint is left out: it forwards to the upstreams of registered models, and a
fuzzer must not send traffic anywhere but this machine (the proxy has its own tests against
loopback upstreams).
"""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.test_cli import _serve, _wait_ready

EXCLUDED = {"/v1/chat/completions"}
MODEL = {"input_price_per_mtok": 1.0, "output_price_per_mtok": 2.0, "context_window": 100_000}


def _explains(response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return bool(body.get("detail")) or bool((body.get("error") or {}).get("message"))


@pytest.mark.slow
def test_no_operation_answers_5xx_and_every_4xx_explains(tmp_path, pg_url):
    models = tmp_path / "models.toml"  # ready needs a registered model
    models.write_text("".join(f'[[models]]\nid = "{m}"\n' + "".join(
        f"{k} = {v}\n" for k, v in MODEL.items()) for m in ("fuzz-a", "fuzz-b")))
    proc, url = _serve(tmp_path, "--models", str(models), env={"BANDIT_ROUTER_DATABASE_URL": pg_url,
                                      "BANDIT_ROUTER_ADMIN_KEY": "fuzz-operator-key",
                                      "BANDIT_ROUTER_MAX_BODY_BYTES": "100000",
                                      "BANDIT_ROUTER_LOG_LEVEL": "WARNING"})
    admin = {"Authorization": "Bearer fuzz-operator-key"}
    try:
        _wait_ready(url, proc)
        for m in ("fuzz-a", "fuzz-b"):  # registered from the file; PUT keeps them as they are
            httpx.put(f"{url}/v1/models/{m}", json=MODEL, headers=admin).raise_for_status()
        httpx.post(f"{url}/v1/tenants", json={"id": "fz", "name": "Fuzz"}, headers=admin)
        app_key = httpx.post(f"{url}/v1/tenants/fz/keys", headers=admin).json()["key"]
        schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
        failures, calls = [], 0
        for result in schema.get_all_operations():
            operation = result.ok()
            if operation.path in EXCLUDED:
                continue
            for headers in (admin, {"Authorization": f"Bearer {app_key}"}):

                @given(case=operation.as_strategy())
                @settings(max_examples=25, deadline=None, derandomize=True, database=None,
                          suppress_health_check=list(HealthCheck))
                def probe(case):
                    nonlocal calls
                    calls += 1
                    response = case.call(base_url=url, headers=probe.headers, timeout=30)
                    if response.status_code >= 500 or (
                            response.status_code >= 400 and not _explains(response)):
                        failures.append((operation.method, operation.path, case.path_parameters,
                                         str(case.body)[:200], response.status_code,
                                         response.text[:200]))

                probe.headers = headers
                probe()
        assert calls > 300
        assert not failures, failures[:5]
        assert proc.poll() is None  # the server survived the whole run
    finally:
        proc.terminate()
        proc.wait(10)
