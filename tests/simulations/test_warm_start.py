"""Warm start in the simulator: offline evaluations fitted before the online replay."""

from __future__ import annotations

import csv
import json

import numpy as np
from typer.testing import CliRunner

from bandit_router.cli import app
from simulations import metrics
from simulations.data import Scenario, synthetic, warm_split
from simulations.runner import PolicyConfig, run
from tests.simulations.conftest import write_responses

runner = CliRunner()


def test_warm_start_from_a_slice_beats_cold_start_on_the_same_stream():
    data = synthetic("stationary", 0, Scenario(steps=2400))
    warm = warm_split(data, 0.5)  # first half: offline evaluations, full information
    cold = data.take(np.arange(1200, 2400))  # the same scored requests, from scratch
    assert warm.n == cold.n == 1200 and (warm.ids == cold.ids).all()
    cfg = PolicyConfig("thompson")
    regret = {name: [metrics.regret(run(d, cfg, s), d).sum() for s in range(3)]
              for name, d in (("warm", warm), ("cold", cold))}
    assert np.mean(regret["warm"]) < 0.7 * np.mean(regret["cold"])


def test_logged_propensities_stay_those_of_the_online_policy():
    data = warm_split(synthetic("stationary", 1, Scenario(steps=600)), 0.5)
    log = run(data, PolicyConfig("thompson"), 0)
    assert log.steps == 300
    assert ((log.propensity > 0) & (log.propensity <= 1)).all()
    assert (log.propensity < 0.99).any()  # choices made by the sampler, not forced


def test_simulate_warm_starts_from_a_file_and_warns_about_unknown_models(response_dir, tmp_path,
                                                                         models_toml):
    evals = tmp_path / "evals.csv"
    rows = list(csv.reader((response_dir / "a.csv").open()))
    with evals.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(rows[0] + ["model-we-do-not-route-to"])
        w.writerows(r + ["True"] for r in rows[1:])
    out = tmp_path / "s.json"
    res = runner.invoke(app, ["simulate", "--data", str(response_dir / "sub"), "--warm-start",
                              str(evals), "--policies", "thompson", "--no-progress",
                              "--models", str(models_toml),
                              "--workers", "1", "--json", str(out)])
    assert res.exit_code == 0, res.output
    assert "ignoring models that are not in the stream: model-we-do-not-route-to" in res.output
    assert json.loads(out.read_text())["warm_start"]["file"] == str(evals)


def test_simulate_warm_start_fraction_replays_only_the_rest(response_dir, tmp_path, models_toml):
    out = tmp_path / "s.json"
    res = runner.invoke(app, ["simulate", "--data", str(response_dir), "--warm-start-fraction",
                              "0.25", "--policies", "thompson", "--no-progress", "--workers",
                              "1", "--models", str(models_toml), "--json", str(out)])
    assert res.exit_code == 0, res.output
    summary = json.loads(out.read_text())
    assert summary["steps"] == 450 and summary["warm_start"]["requests"] == 150


def test_bad_warm_start_options_are_usage_errors(response_dir, tmp_path, models_toml):
    write_responses(tmp_path / "x.csv", 10, 0)
    for extra in (["--warm-start-fraction", "1.5"],
                  ["--warm-start", str(tmp_path / "missing.csv")],
                  ["--warm-start", str(tmp_path / "x.csv"), "--warm-start-fraction", "0.1"],
                  ["--warm-start-fraction", "0.1", "--warm-start-weight", "0"]):
        res = runner.invoke(app, ["simulate", "--data", str(response_dir), "--policies",
                                  "thompson", "--no-progress", "--models", str(models_toml),
                                  *extra])
        assert res.exit_code == 2, (extra, res.output)
        assert "Traceback" not in res.output
