"""The status page in a real headless browser (Debian's Chromium) against a running server."""

from __future__ import annotations

import re
import shutil
import subprocess

import httpx
import pytest

from tests.conftest import EXAMPLE_MODELS
from tests.test_cli import _serve, _wait_ready

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _dom(url: str, profile, *extra_args: str) -> str:
    if CHROMIUM is None:
        pytest.fail("Chromium is not installed: `apt-get install -y chromium` (.ci/run does)",
                    pytrace=False)
    out = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={profile}", "--virtual-time-budget=10000",
         *extra_args, "--dump-dom", url],
        capture_output=True, text=True, timeout=90)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_status_page_draws_every_model_in_every_chart(tmp_path, pg_url):
    proc, url = _serve(tmp_path, "--models", str(EXAMPLE_MODELS),
                       env={"BANDIT_ROUTER_DATABASE_URL": pg_url,
                            "BANDIT_ROUTER_ADMIN_KEY": "page-operator-key"})
    admin = {"Authorization": "Bearer page-operator-key"}
    try:
        _wait_ready(url, proc)
        httpx.post(url + "/v1/tenants", json={"id": "shop", "name": "Shop"}, headers=admin)
        key = httpx.post(url + "/v1/tenants/shop/keys", headers=admin).json()["key"]
        app = {"Authorization": f"Bearer {key}"}
        models = [m["id"] for m in httpx.get(url + "/v1/models", headers=app).json()["models"]]
        for i, m in enumerate(models * 3):
            d = httpx.post(url + "/v1/route", json={"prompt": f"q{i}", "candidates": [m]},
                           headers=app).json()
            httpx.post(url + "/v1/feedback", headers=app,
                       json={"decision_id": d["decision_id"], "reward": 1.0,
                             "latency_ms": 100.0 + i})

        dom = _dom(url + "/#key=page-operator-key", tmp_path / "profile")
        assert 'data-loaded="true"' in dom
        assert f"{len(models) * 3} decisions, {len(models) * 3} with feedback" in dom
        rows = re.findall(r'<tr data-model="([^"]+)"', dom)
        assert sorted(rows) == sorted(models)
        charts = re.findall(r'<svg[^>]*data-chart="([^"]+)"(.*?)</svg>', dom, re.S)
        assert [c[0] for c in charts] == ["share", "reward", "p95_latency_ms", "spend_usd"]
        for name, svg in charts:
            drawn = set(re.findall(r'data-model="([^"]+)"', svg))
            assert drawn == set(models), (name, drawn)

        # Without a key the page asks for one and shows no data.
        bare = _dom(url + "/", tmp_path / "profile2")
        assert "an operator key is needed" in bare and 'data-loaded="true"' not in bare
    finally:
        proc.terminate()
        proc.wait(10)
