"""The status page in a real headless browser (Debian's Chromium) against a running server."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time

import httpx
import pytest

from tests.conftest import EXAMPLE_MODELS
from tests.test_cli import BIN, _free_port, _serve, _wait_ready

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _chromium(url: str, profile, *what: str) -> str:
    if CHROMIUM is None:
        pytest.fail("Chromium is not installed: `apt-get install -y chromium` (.ci/run does)",
                    pytrace=False)
    out = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={profile}", "--virtual-time-budget=10000",
         *what, url],
        capture_output=True, text=True, timeout=90)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def _dom(url: str, profile, *extra_args: str) -> str:
    return _chromium(url, profile, *extra_args, "--dump-dom")


def _charts(dom: str) -> dict[str, str]:
    return dict(re.findall(r'<svg[^>]*data-chart="([^"]+)"(.*?)</svg>', dom, re.S))


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
        assert [c[0] for c in charts] == ["share", "reward", "p95_latency_ms", "spend_usd",
                                          "failures"]
        for name, svg in charts:
            drawn = set(re.findall(r'data-model="([^"]+)"', svg))
            assert drawn == set(models), (name, drawn)

        # Without a key the page asks for one and shows no data.
        bare = _dom(url + "/", tmp_path / "profile2")
        assert "an operator key is needed" in bare and 'data-loaded="true"' not in bare

        # With an app key it says why it shows nothing, instead of "loading…".
        wrong = _dom(url + f"/#key={key}", tmp_path / "profile3")
        assert "this key is an app key; the status page needs the operator key" in wrong
        assert "loading…" not in wrong
    finally:
        proc.terminate()
        proc.wait(10)


def test_status_page_shows_the_demos_first_minute_as_lines_with_its_outage(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BANDIT_ROUTER_")}
    proc = subprocess.Popen([str(BIN), "demo", "--duration", "15", "--port", str(port),
                             "--keep-serving"], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        deadline, url = time.monotonic() + 120, None
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, "the demo ended before serving"
            if line.startswith("Serving the demo at"):
                url = re.search(r"(http://\S+/#key=\S+)", line).group(1)
        assert url is not None, "the demo did not start serving in time"

        dom = _dom(url, tmp_path / "profile")
        assert "last 2 min:" in dom  # 15 s of data: the charts span 2 minutes, not 6 hours
        charts = _charts(dom)
        assert "-2 min" in charts["share"]
        for model in ("small-fast", "mid-value", "large-premium"):
            path = re.search(rf'<path d="([^"]+)"[^>]*data-model="{model}"', charts["share"])
            assert path and path.group(1).count("L") >= 2, (model, "is not drawn as a line")
        # mid-value's simulated outage: failed tries drawn, and its cooldown shaded.
        failures = re.findall(r'<circle cx="[^"]+" cy="([^"]+)"[^>]*data-model="mid-value"',
                              charts["failures"])
        assert len(set(failures)) > 1, "mid-value's failed tries are not drawn"
        assert 'data-cooldown="mid-value"' in charts["failures"]
        row = re.search(r'<tr data-model="mid-value">(.*?)</tr>', dom, re.S).group(1)
        cells = re.findall(r"<td>([^<]*)</td>", row)
        assert int(cells[6]) > 0 and cells[7].startswith(("ok", "cooling down", "probing"))

        shot = tmp_path / "status.png"
        _chromium(url, tmp_path / "profile2", "--window-size=1300,1500", f"--screenshot={shot}")
        assert shot.stat().st_size > 20_000  # look at it: pytest --basetemp=DIR keeps it
    finally:
        proc.terminate()
        proc.wait(20)
