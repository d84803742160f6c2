"""The ``simulate`` command end to end, on generated data (and on the real data if present)."""

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from bandit_router.policy import PolicySpec
from simulations.cli import simulate

app = typer.Typer()
app.command("simulate")(simulate)
app.command("noop")(lambda: None)  # keeps "simulate" a named sub-command, as in the main CLI
runner = CliRunner()
REAL = Path(__file__).resolve().parents[2] / "../shared/data/routellm-evals/mmlu"


def test_sweep_on_response_files_reports_apgr_and_writes_outputs(response_dir, tmp_path):
    out = tmp_path / "out"
    res = runner.invoke(app, [
        "simulate", "--data", str(response_dir), "--cost", "strong-model=0.01",
        "--cost", "weak/model-7b=0.001", "--sweep", "--sweep-points", "4", "--seeds", "2",
        "--refit-every", "25", "--policies", "thompson,random,oracle,ceiling",
        "--json", str(out / "s.json"), "--log", str(out / "log.csv"),
        "--plots", str(out / "plots"), "--workers", "1", "--no-progress"])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "s.json").read_text())
    sweep = summary["sweep"]
    assert {"thompson", "random", "oracle", "ceiling", "ceiling-holdout"} <= set(sweep)
    assert sweep["oracle"]["apgr"]["mean"] >= sweep["thompson"]["apgr"]["mean"]
    assert "APGR" in res.output
    assert {p.name for p in (out / "plots").iterdir()} >= {
        "quality_vs_cost.png", "cumulative_regret.png", "routing_share.png", "pgr.png"}


def test_drift_scenario_reports_recovery(tmp_path):
    res = runner.invoke(app, [
        "simulate", "--scenario", "drift", "--steps", "800", "--policies",
        "thompson,thompson:half_life=none,oracle", "--refit-every", "50", "--window", "50",
        "--json", str(tmp_path / "s.json"), "--workers", "1", "--no-progress"])
    assert res.exit_code == 0, res.output
    rows = json.loads((tmp_path / "s.json").read_text())["results"]
    assert {r["policy"] for r in rows} == {"thompson", "thompson:half_life=none", "oracle"}
    assert all("recovery_steps" in r for r in rows)


def test_feature_shape_and_noise_knobs_reach_the_run(tmp_path):
    res = runner.invoke(app, [
        "simulate", "--scenario", "stationary", "--steps", "300", "--featurizer", "hashed",
        "--n-buckets", "64", "--max-ngram", "1", "--policies",
        "thompson:noise_pseudo_count=10:drift_threshold=9:drift_keep=50,thompson:drift=none,oracle",
        "--json", str(tmp_path / "s.json"), "--workers", "1", "--no-progress"])
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["features"] == {"n_buckets": 64, "max_ngram": 1, "dim": 1 + 8 + 64 + 16,
                                   "featurizer": "hashed", "name": "hashed-64x1+16"}
    tuned = summary["policies"]["thompson:noise_pseudo_count=10:drift_threshold=9:drift_keep=50"]
    assert tuned["spec"]["prior"]["noise_pseudo_count"] == 10.0
    assert tuned["spec"]["drift"] == {"slack": 0.5, "threshold": 9.0, "keep": 50.0}
    assert summary["policies"]["thompson:drift=none"]["spec"]["drift"] is None


def test_unknown_policy_is_a_usage_error(tmp_path):
    res = runner.invoke(app, ["simulate", "--scenario", "drift", "--policies", "magic"])
    assert res.exit_code != 0


@pytest.mark.skipif(not REAL.is_dir(), reason="RouteLLM MMLU files not present")
def test_the_real_mmlu_files_load_with_shipped_prices():
    from simulations.data import load_responses

    data = load_responses(REAL)
    assert data.n == 14_042 and data.k == 2
    assert data.reward.mean(axis=0) == pytest.approx([0.681, 0.806], abs=0.001)
    assert data.cost[:, 1].mean() > 10 * data.cost[:, 0].mean()


def test_precomputed_features_drive_the_policies(response_dir, tmp_path):
    """A feature that marks the hard requests must lift the ceiling above one that is noise."""
    from simulations.data import read_responses

    prompts = read_responses(response_dir).prompts
    rng = np.random.default_rng(0)
    files = {"marks": np.array([[p.startswith("prove")] for p in prompts], dtype=float),
             "noise": rng.random((len(prompts), 1))}
    apgr = {}
    for name, arr in files.items():
        np.save(tmp_path / f"{name}.npy", arr)
        res = runner.invoke(app, [
            "simulate", "--data", str(response_dir), "--features", str(tmp_path / f"{name}.npy"),
            "--cost", "strong-model=0.01", "--cost", "weak/model-7b=0.001", "--sweep",
            "--sweep-points", "6", "--policies", "ceiling", "--refit-every", "25",
            "--json", str(tmp_path / f"{name}.json"), "--workers", "1", "--no-progress"])
        assert res.exit_code == 0, res.output
        summary = json.loads((tmp_path / f"{name}.json").read_text())
        assert summary["features"] == {"file": str(tmp_path / f"{name}.npy"), "dim": 2}
        apgr[name] = summary["sweep"]["ceiling-holdout"]["apgr"]["mean"]
    assert apgr["marks"] > apgr["noise"] + 0.1


def test_feature_files_are_checked_and_only_go_with_data(response_dir, tmp_path):
    np.save(tmp_path / "short.npy", np.zeros((10, 4)))
    res = runner.invoke(app, ["simulate", "--data", str(response_dir), "--features",
                              str(tmp_path / "short.npy"), "--cost", "strong-model=0.01",
                              "--cost", "weak/model-7b=0.001", "--no-progress"])
    assert res.exit_code == 2 and "10 rows but the data has 600" in res.output
    assert "Traceback" not in res.output
    res = runner.invoke(app, ["simulate", "--scenario", "drift", "--features",
                              str(tmp_path / "short.npy")])
    assert res.exit_code == 2 and "--features" in res.output


def test_many_model_sweep_reports_the_hull_and_recomputes_from_the_log(tmp_path):
    from simulations.data import load_responses
    from simulations.experiment import frontier_report, read_logs
    from tests.simulations.conftest import write_many

    f = write_many(tmp_path / "bench.csv", 240, 3)
    out = tmp_path / "out"
    res = runner.invoke(app, [
        "simulate", "--data", str(f), "--cost-weights", "0,40,400", "--seeds", "2",
        "--refit-every", "20", "--policies", "thompson,contextfree-thompson,random,ceiling",
        "--json", str(out / "s.json"), "--log", str(out / "log.csv"),
        "--plots", str(out / "plots"), "--workers", "1", "--no-progress"])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "s.json").read_text())
    assert summary["cost_weights"] == [0.0, 40.0, 400.0] and "sweep" not in summary
    front = summary["frontier"]
    assert front["hull"]["per_seed"][0]["strongest"] == "big"
    assert set(front["policies"]) == {"thompson", "contextfree-thompson", "random", "ceiling",
                                      "ceiling-holdout"}
    th = front["policies"]["thompson"]
    assert len(th["runs"]) == 6 and th["above"]["of"] == 6
    assert th["above_positive_cost_weight"]["of"] == 4
    assert {"cost_usd", "quality", "margin", "above", "seed", "cost_weight"} <= set(th["runs"][0])
    assert {"q30", "q50", "aiq"} <= set(th) and "q30" in front["second_half"]["hull"]
    # cheap 'coder' is as good as 'big' on code: full information beats every fixed mix
    ceiling = front["policies"]["ceiling"]
    assert ceiling["above_positive_cost_weight"]["runs"] == 4, ceiling["runs"]
    assert "above λ>0" in res.output and "hull of single models" in res.output
    assert (out / "plots" / "quality_vs_cost.png").stat().st_size > 10_000
    # every figure comes back from the per-step log
    base = load_responses(f)
    datasets = {s: base.shuffled(np.random.default_rng(s)) for s in summary["seeds"]}
    again = frontier_report(read_logs(out / "log.csv", base.models), datasets)
    for policy in ("thompson", "contextfree-thompson", "random", "ceiling"):
        for key in ("above", "above_positive_cost_weight"):
            assert again["policies"][policy][key] == front["policies"][policy][key]
        for key in ("margin", "q30", "q50", "aiq"):
            assert again["policies"][policy][key]["mean"] == pytest.approx(
                front["policies"][policy][key]["mean"], abs=1e-12)
    assert again["hull"]["aiq"] == front["hull"]["aiq"]


@pytest.mark.parametrize("grid", ["0,ten", "-1,2", ","])
def test_bad_cost_weights_are_a_usage_error(tmp_path, grid):
    from tests.simulations.conftest import write_many

    f = write_many(tmp_path / "bench.csv", 20, 3)
    res = runner.invoke(app, ["simulate", "--data", str(f), "--cost-weights", grid,
                              "--no-progress"])
    assert res.exit_code == 2 and "--cost-weights" in res.output


def test_families_scenario_on_wordllama_features(tmp_path):
    res = runner.invoke(app, [
        "simulate", "--scenario", "families", "--steps", "300", "--featurizer", "wordllama",
        "--cost-weights", "0,40", "--policies", "thompson,strongest", "--refit-every", "50",
        "--json", str(tmp_path / "s.json"), "--workers", "1", "--no-progress"])
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["features"]["featurizer"] == "wordllama" and len(summary["models"]) == 10
    assert summary["frontier"]["policies"]["strongest"]["margin"]["mean"] == pytest.approx(
        0.0, abs=1e-9)  # the strongest model is a vertex of the hull
    res = runner.invoke(app, ["simulate", "--scenario", "families", "--featurizer", "bert"])
    assert res.exit_code == 2 and "one of hashed, wordllama" in res.output


def test_runs_are_charged_each_calls_real_price_while_deciding_on_the_mean(tmp_path):
    from simulations.data import load_responses
    from tests.simulations.conftest import write_many

    f = write_many(tmp_path / "bench.csv", 200, 5)
    res = runner.invoke(app, [
        "simulate", "--data", str(f), "--cost-weights", "0,100", "--policies",
        "thompson,strongest", "--log", str(tmp_path / "log.csv"), "--json",
        str(tmp_path / "s.json"), "--workers", "1", "--no-progress"])
    assert res.exit_code == 0, res.output
    base = load_responses(f)
    shuffled = base.shuffled(np.random.default_rng(0))
    summary = json.loads((tmp_path / "s.json").read_text())
    strongest = [r for r in summary["frontier"]["policies"]["strongest"]["runs"]]
    j = base.models.index("big")
    assert strongest[0]["cost_usd"] == pytest.approx(shuffled.charged[:, j].mean())
    with (tmp_path / "log.csv").open() as fh:
        import csv

        rows = [r for r in csv.DictReader(fh) if r["policy"] == "strongest"]
    np.testing.assert_allclose([float(r["cost_usd"]) for r in rows], shuffled.charged[:, j])


def test_the_learn_cost_knob_switches_cost_learning_and_refuses_other_values(tmp_path):
    from simulations.cli import build_policies

    on, off = build_policies("thompson,thompson:learn_cost=0", 100, PolicySpec())
    assert on.spec.learn_cost is True and off.spec.learn_cost is False
    res = runner.invoke(app, ["simulate", "--scenario", "drift", "--steps", "50",
                              "--policies", "thompson:learn_cost=maybe", "--no-progress"])
    assert res.exit_code == 2 and "learn_cost" in res.output
