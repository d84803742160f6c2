"""`bandit-router demo` as a newcomer runs it, and as CI's smoke test of the whole loop:
simulated models behind the real proxy, graded feedback, refits, routing that moves."""

from __future__ import annotations

import json
import os
import subprocess

from tests.test_cli import BIN

DURATION_S = 20


def test_demo_moves_routing_to_the_model_that_earns_its_price_and_says_so(tmp_path):
    out = tmp_path / "demo.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BANDIT_ROUTER_")}
    proc = subprocess.run([str(BIN), "demo", "--duration", str(DURATION_S), "--port", "0",
                           "--json", str(out)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=DURATION_S + 120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["best"] == "mid-value"
    shares = {m["id"]: (m["share_first"], m["share_last"]) for m in result["models"]}
    first, last = shares["mid-value"]
    assert last > first and last > 0.6, shares
    assert result["requests"] > 100 and result["not_answered"] == 0
    assert all(m["mean_reward"] is not None for m in result["models"] if m["answered"])
    # The outage sent traffic elsewhere and was not learned: mid-value came back.
    assert result["outage"]["failed"] > 0 and result["outage"]["share_during"] < first

    lines = proc.stdout.strip().splitlines()
    assert any("/#key=br_demo_" in line for line in lines[:8]), lines[:8]
    tail = "\n".join(lines[-6:])
    assert "What it showed:" in tail and "routing moved toward mid-value" in tail, tail
    assert "came back" in tail
    assert "Traceback" not in proc.stderr
