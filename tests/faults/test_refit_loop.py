"""``bandit-router refit --every N``, the one refitting process of a deployment whose servers
run with BANDIT_ROUTER_REFIT_IN_PROCESS=false: it survives a Postgres restart (logging one
line per failed try, no traceback) and goes on refitting; when it stops, the servers say so —
``/readyz`` stays 200 (routing works) but reports ``posterior_stale`` and the lag, and
``bandit_router_posterior_lag_seconds`` grows."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import httpx
import sqlalchemy as sa


def _newest_version(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT coalesce(max(version), 0) FROM posteriors"))
                       .scalar())
    finally:
        engine.dispose()


def _feedback(c: httpx.Client, n: int, tag: str) -> None:
    """Route and report ``n`` outcomes, retrying while the server reconnects."""
    done = 0
    deadline = time.monotonic() + 30
    while done < n:
        assert time.monotonic() < deadline, "feedback was not accepted again"
        d = c.post("/v1/route", json={"prompt": f"{tag} {done}"}).json()["decision_id"]
        for _ in range(50):
            if c.post("/v1/feedback", json={"decision_id": d, "reward": 1.0}).status_code == 201:
                done += 1
                break
            time.sleep(0.2)


def _wait_for_version_above(url: str, version: int, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            newest = _newest_version(url)
        except sa.exc.OperationalError:
            newest = 0
        if newest > version:
            return newest
        time.sleep(0.3)
    raise AssertionError(f"no posterior version above {version} within {seconds} s")


def test_the_refit_loop_survives_a_postgres_restart_and_a_stalled_loop_is_reported(
        cluster, make_server, tmp_path):
    server = make_server(cluster.url, refit_in_process="false", posterior_poll_s=0.3,
                         posterior_stale_after_s=3, writer_retry_max_s=0.3)
    server.start()
    key = server.app_key()
    log_path = tmp_path / "refit.log"
    refitter = subprocess.Popen(
        [sys.executable, "-m", "bandit_router.cli", "refit", "--every", "1"],
        env=server.env, stdout=open(tmp_path / "refit.out", "wb"), stderr=open(log_path, "wb"),
        start_new_session=True)
    out = tmp_path / "refit.out"
    try:
        deadline = time.monotonic() + 30
        while not out.read_text().strip():  # the loop has started: its first result line
            assert refitter.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        with httpx.Client(base_url=server.base, headers=key, timeout=10) as c:
            _feedback(c, 5, "before")
            v1 = _wait_for_version_above(cluster.url, 1, 20)
            deadline = time.monotonic() + 10
            while f"version {v1}" not in (ready := httpx.get(server.base + "/readyz").json()
                                          )["checks"]["posterior"]:
                assert time.monotonic() < deadline, ready
                time.sleep(0.2)
            assert ready["posterior_stale"] is False, ready

            cluster.stop()
            time.sleep(3.0)  # the loop tries (and fails) a few times meanwhile
            cluster.start()
            assert refitter.poll() is None, log_path.read_text()[-3000:]

            _feedback(c, 5, "after")
            v2 = _wait_for_version_above(cluster.url, v1, 30)
            assert v2 > v1
            assert refitter.poll() is None

            # The refit job stops: feedback goes on arriving, nothing learns it.
            os.killpg(refitter.pid, signal.SIGTERM)
            assert refitter.wait(30) == 0
            _feedback(c, 3, "unlearned")
            deadline = time.monotonic() + 20
            while not (ready := httpx.get(server.base + "/readyz")).json()["posterior_stale"]:
                assert time.monotonic() < deadline, ready.text
                time.sleep(0.3)
            assert ready.status_code == 200  # still routable: reported, not failed
            assert ready.json()["posterior_lag_s"] > 3
            assert "stale" in ready.json()["checks"]["posterior"]
            lag = [line for line in httpx.get(server.base + "/metrics").text.splitlines()
                   if line.startswith("bandit_router_posterior_lag_seconds")]
            assert lag and float(lag[0].split()[-1]) > 3, lag
            assert c.post("/v1/route", json={"prompt": "still routed"}).status_code == 200
    finally:
        if refitter.poll() is None:
            os.killpg(refitter.pid, signal.SIGKILL)
            refitter.wait(10)

    lines = [line for line in log_path.read_text().splitlines() if line.strip()]
    failures = [json.loads(line) for line in lines if "refit failed" in line]
    assert failures, "the restart went unnoticed: " + "\n".join(lines[-20:])
    assert all("retrying in" in f["message"] and "exception" not in f for f in failures)
    assert not any("Traceback" in line for line in lines), "\n".join(lines[-20:])
