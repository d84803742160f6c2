"""``bandit-router evaluate`` end to end: logged by the real app on Postgres, or by simulate."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from bandit_router.cli import app
from tests.conftest import ADMIN, TWO_MODELS, route


def _invoke(*args: str):
    return CliRunner().invoke(app, ["evaluate", *args], catch_exceptions=False)


def _play(client, rounds: int, start: int = 0) -> list[dict]:
    return [route(client, f"question {i}: {'fix this python bug' if i % 2 else 'write a poem'}")
            for i in range(start, start + rounds)]


@pytest.mark.postgres
def test_evaluates_decisions_routed_and_rewarded_through_the_app(make_client, db_url, tmp_path):
    url = db_url  # runs on Postgres, then on the SQLite default
    client = make_client(url, TWO_MODELS)
    decisions = _play(client, 40)
    assert client.post("/v1/admin/refit", headers=ADMIN).status_code == 200
    decisions += _play(client, 40, start=40)
    errored = next(d for d in decisions if d["model"] == "model-b")
    for d in decisions[:70]:
        body = {"decision_id": d["decision_id"], "cost_usd": 0.002}
        if d is errored:
            body["error"] = "upstream timeout"
        else:
            body["reward"] = 1.0 if d["model"] == "model-a" else 0.25
        assert client.post("/v1/feedback", json=body).status_code == 201

    out = tmp_path / "a.json"
    res = _invoke("--database-url", url, "--candidate", "fixed:model-a", "--boot", "200",
                  "--json", str(out))
    assert res.exit_code == 0, res.output
    assert "10 decisions without feedback excluded" in res.output
    assert "1 decisions with an error and no reward (no answer to judge) excluded" in res.output
    report = json.loads(out.read_text())
    assert report["decisions"] == 69
    assert report["estimates"]["SNIPS"]["reward"]["value"] == pytest.approx(1.0)
    # Every request cost $0.002, so the self-normalised cost is exactly that, and IPS's
    # interval brackets its own estimate (its level depends on the mean weight).
    assert report["estimates"]["SNIPS"]["cost_usd"]["value"] == pytest.approx(0.002)
    ips = report["estimates"]["IPS"]["cost_usd"]
    assert ips["low"] <= ips["value"] * (1 + 1e-9) and ips["value"] <= ips["high"] * (1 + 1e-9)
    assert set(report["estimates"]) == {"IPS", "SNIPS", "DR"}
    assert isinstance(report["trustworthy"], bool)

    # Error-only feedback (no answer came) is not evaluated as a bad answer: model-b's
    # answers were all rewarded 0.25, and its timeout does not pull that down.
    b = tmp_path / "b.json"
    assert _invoke("--database-url", url, "--candidate", "fixed:model-b", "--boot", "200",
                   "--json", str(b)).exit_code == 0
    snips_b = json.loads(b.read_text())["estimates"]["SNIPS"]["reward"]["value"]
    assert snips_b == pytest.approx(0.25)

    # A contextual candidate scores each decision with the posterior live at the time.
    c = tmp_path / "c.json"
    res = _invoke("--database-url", url, "--candidate", "linucb", "--alpha", "0",
                  "--boot", "200", "--json", str(c))
    assert res.exit_code == 0, res.output
    assert "linucb (alpha=0" in res.output
    ips = json.loads(c.read_text())["estimates"]["IPS"]["reward"]
    assert ips["low"] <= ips["value"] <= ips["high"]

    res = _invoke("--database-url", url, "--tenant", "nobody", "--candidate", "uniform")
    assert res.exit_code == 2 and "none of the 0 selected decisions" in res.output


def _responses(tmp_path, n=300):
    rng = np.random.default_rng(0)
    d = tmp_path / "data"
    d.mkdir()
    with (d / "responses.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["prompt", "small", "large"])
        for i in range(n):
            code = i % 3 == 0
            prompt = f"def f{i}(x): return x  # fix" if code else f"tell me about topic {i}"
            w.writerow([prompt, int(rng.random() < (0.3 if code else 0.7)),
                        int(rng.random() < 0.8)])
    return d


def test_evaluates_a_simulation_log_with_and_without_contexts(tmp_path):
    from simulations.data import load_responses
    from simulations.experiment import write_logs
    from simulations.runner import PolicyConfig, run

    data_dir = _responses(tmp_path)
    prices = ["small=0.0001", "large=0.001"]
    ds = load_responses(data_dir, costs={"small": 0.0001, "large": 0.001})
    log = write_logs([run(ds.shuffled(np.random.default_rng(1)), PolicyConfig("thompson"), 1),
                      run(ds, PolicyConfig("random"), 1)], tmp_path / "log.csv")

    res = _invoke("--log", str(log), "--candidate", "fixed:large", "--boot", "100")
    assert res.exit_code == 2 and "--run" in res.output

    out = tmp_path / "fixed.json"
    res = _invoke("--log", str(log), "--run", "random:1", "--candidate", "fixed:large",
                  "--boot", "200", "--json", str(out))
    assert res.exit_code == 0, res.output
    est = json.loads(out.read_text())["estimates"]["SNIPS"]
    assert est["reward"]["low"] <= 0.8 <= est["reward"]["high"]
    assert est["cost_usd"]["value"] == pytest.approx(0.001)

    res = _invoke("--log", str(log), "--run", "thompson:1", "--candidate", "linucb")
    assert res.exit_code == 2 and "--data" in res.output

    out = tmp_path / "linucb.json"
    res = _invoke("--log", str(log), "--run", "thompson:1", "--data", str(data_dir),
                  *[a for p in prices for a in ("--cost", p)], "--candidate", "linucb",
                  "--cost-weight", "100", "--boot", "200", "--json", str(out))
    assert res.exit_code == 0, res.output
    report = json.loads(out.read_text())
    assert report["decisions"] == 300 and report["cost_weight"] == 100


def test_evaluate_right_after_the_quick_start_says_in_one_line_that_there_is_too_little(
        make_client, sqlite_url):
    import subprocess

    from tests.test_cli import BIN

    client = make_client(sqlite_url, TWO_MODELS)

    def evaluate_cli():
        return subprocess.run([str(BIN), "evaluate", "--candidate", "linucb", "--cost-weight",
                               "50", "--boot", "50", "--database-url", sqlite_url],
                              capture_output=True, text=True, timeout=120)

    def rewarded(n, start=0):
        for d in _play(client, n, start):
            assert client.post("/v1/feedback", json={"decision_id": d["decision_id"],
                                                     "reward": 1.0}).status_code == 201

    rewarded(1)  # the quick start: one decision with feedback
    out = evaluate_cli()
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    errors = [ln for ln in out.stderr.splitlines() if ln.startswith("error:")]
    assert errors == ["error: only 1 logged decision(s) with feedback: an off-policy estimate "
                      "needs at least 10; route more requests, post their feedback, and "
                      "evaluate again"]
    rewarded(11, start=1)  # enough for an estimate, with every cross-fitting fold in use
    out = evaluate_cli()
    assert out.returncode == 0, out.stderr
    assert "evaluated on 12 logged decisions" in out.stdout and "DR" in out.stdout
