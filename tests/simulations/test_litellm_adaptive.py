"""The ``litellm-adaptive`` peer: request types, Beta cells, the cap, its propensities, and a
whole ``simulate`` run on ``bench11`` beside our own policies."""

import json
from dataclasses import replace

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from simulations import bench11, routerbench_csv
from simulations.cli import simulate
from simulations.data import Scenario, load_responses, synthetic, warm_split
from simulations.litellm_adaptive import REQUEST_TYPES, AdaptiveRouter, replay, request_type
from simulations.runner import PolicyConfig, run

app = typer.Typer()
app.command("simulate")(simulate)
app.command("noop")(lambda: None)
cli = CliRunner()


@pytest.mark.parametrize("text,kind", [
    ("Write a python function to reverse a list.\nassert rev([1, 2]) == [2, 1]", "code"),
    ("Fix this:\n```js\nlet x = 1\n```", "code"),
    ("Fill in the blank: The cup fell off the table because the _ was slippery.",
     "commonsense"),
    ("Which of the following is a noble gas?\nA. neon\nB. iron\nC. salt\nD. water",
     "multiple-choice"),
    ("Tom has 3 apples and buys 5 more. How many apples does he have?", "maths"),
    ("Draft a polite email to my landlord about the broken heater.", "writing"),
    ("hello there, what's up?", "other"),
])
def test_each_request_type_has_its_own_regex(text, kind):
    assert REQUEST_TYPES[request_type(text)] == kind


def test_a_cell_learns_fractional_counts_and_is_capped_at_200():
    router = AdaptiveRouter()
    alpha, beta = router.cells(3)
    assert (alpha == 5).all() and (beta == 5).all()
    router.update(alpha, beta, kind=2, arm=1, reward=1.0)
    router.update(alpha, beta, kind=2, arm=1, reward=0.25)
    assert alpha[2, 1] == pytest.approx(6.25) and beta[2, 1] == pytest.approx(5.75)
    assert alpha[2, 0] == 5 and alpha[0, 1] == 5  # other cells untouched
    for _ in range(400):
        router.update(alpha, beta, kind=0, arm=0, reward=1.0)
    assert alpha[0, 0] + beta[0, 0] == pytest.approx(200.0)
    # older evidence scaled down: the early failures weigh less and less
    assert beta[0, 0] < 5 * 200 / 405 + 1e-9
    for _ in range(100):
        router.update(alpha, beta, kind=0, arm=0, reward=0.0)
    mean = alpha[0, 0] / (alpha[0, 0] + beta[0, 0])
    assert 0.55 < mean < 0.65  # 100 of the 200 counts are the new failures (mean ≈ 0.6)


def test_a_broken_cell_is_refused_not_sampled():
    router = AdaptiveRouter()
    alpha, beta = router.cells(2)
    alpha[1, 0] = 0.0
    with pytest.raises(ValueError, match="non-positive"):
        router.update(alpha, beta, kind=1, arm=0, reward=0.0)
    with pytest.raises(ValueError):
        AdaptiveRouter(prior_alpha=0.0)


def test_the_logged_propensity_is_the_frequency_of_the_choice():
    router = AdaptiveRouter()
    alpha = np.array([30.0, 12.0, 8.0, 60.0])
    beta = np.array([20.0, 10.0, 8.0, 60.0])
    cost = np.array([0.002, 0.0005, 0.0001, 0.0012])
    rng = np.random.default_rng(0)
    for lam in (0.0, 100.0):
        n = 20_000
        picks = np.bincount([router.choose(alpha, beta, cost, lam, rng)[0] for _ in range(n)],
                            minlength=4) / n
        exact = [router.propensity(alpha, beta, cost, lam, a) for a in range(4)]
        assert sum(exact) == pytest.approx(1.0, abs=2e-3)
        assert np.allclose(picks, exact, atol=0.015), (lam, picks, exact)
    eligible = np.array([True, False, True, False])
    arm, p = router.choose(alpha, beta, cost, 0.0, rng, eligible)
    assert eligible[arm] and 0 < p <= 1


def test_a_replay_is_seeded_and_learns_the_cheap_model_that_suits_each_type():
    data = synthetic("bench11", 0, Scenario(steps=1500))
    a = run(data, PolicyConfig(kind="litellm-adaptive"), seed=0, cost_weight=40.0)
    b = run(data, PolicyConfig(kind="litellm-adaptive"), seed=0, cost_weight=40.0)
    assert np.array_equal(a.arm, b.arm) and np.array_equal(a.propensity, b.propensity)
    assert ((a.propensity > 0) & (a.propensity <= 1)).all()
    late = slice(1000, 1500)
    strongest = bench11.MODELS.index("gpt-4")
    assert (a.arm[late] == strongest).mean() < (a.arm[:200] == strongest).mean() + 0.05
    assert a.reward[late].mean() > data.reward[late].mean()  # better than a random model


def test_a_warm_start_fills_the_cells_from_the_offline_prompts():
    data = warm_split(synthetic("bench11", 1, Scenario(steps=1000)), 0.7)
    assert data.warm_prompts is not None and len(data.warm_prompts) == 700
    cold = replay(replace(data, warm=None), 0.0, np.random.default_rng(0))[0]
    warm = replay(data, 0.0, np.random.default_rng(0))[0]
    assert warm.shape == cold.shape == (300,)
    assert not np.array_equal(warm, cold)


def test_simulate_bench11_with_the_peer_end_to_end(tmp_path):
    out = tmp_path / "out"
    res = cli.invoke(app, [
        "simulate", "--scenario", "bench11", "--steps", "300", "--cost-weights", "0,40",
        "--policies", "thompson,litellm-adaptive,ceiling", "--json", str(out / "s.json"),
        "--log", str(out / "log.csv"), "--plots", str(out / "plots"), "--workers", "1",
        "--no-progress"])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "s.json").read_text())
    assert summary["models"] == list(bench11.MODELS) and summary["steps"] == 300
    peer = summary["frontier"]["policies"]["litellm-adaptive"]
    assert peer["above"]["of"] == 2 and peer["q30"]["n"] == 1
    assert "litellm-adaptive" in res.output
    assert (out / "plots" / "quality_vs_cost.png").exists()


def test_bench11_as_a_routerbench_shaped_file_replays_with_the_peer(tmp_path):
    path = tmp_path / "b11.csv"
    routerbench_csv.main(["--scenario", "bench11", "--seed", "2", "--steps", "400",
                          "--out", str(path)])
    data = load_responses(path)
    world = bench11.generate(2, 400)
    assert data.models == bench11.MODELS and data.n == 400
    assert np.allclose(data.charged, world.charged) and np.array_equal(data.reward, world.reward)
    res = cli.invoke(app, [
        "simulate", "--data", str(path), "--steps", "200", "--cost-weights", "0,40",
        "--policies", "litellm-adaptive,thompson", "--warm-start-fraction", "0.5",
        "--workers", "1", "--no-progress"])
    assert res.exit_code == 0, res.output


def test_the_peer_warm_starts_from_an_evaluation_file_too(tmp_path):
    evals, stream = tmp_path / "evals.csv", tmp_path / "stream.csv"
    routerbench_csv.main(["--scenario", "bench11", "--seed", "3", "--steps", "300",
                          "--out", str(evals)])
    routerbench_csv.main(["--scenario", "bench11", "--seed", "4", "--steps", "200",
                          "--out", str(stream)])
    chosen = {}
    for warm in (True, False):
        out, log = tmp_path / f"s{warm}.json", tmp_path / f"log{warm}.csv"
        res = cli.invoke(app, [
            "simulate", "--data", str(stream), *(["--warm-start", str(evals)] if warm else []),
            "--cost-weights", "0", "--policies", "litellm-adaptive", "--json", str(out),
            "--log", str(log), "--workers", "1", "--no-progress"])
        assert res.exit_code == 0, res.output
        chosen[warm] = [line.split(",")[5] for line in log.read_text().splitlines()[1:]]
    assert json.loads((tmp_path / "sTrue.json").read_text())["warm_start"]["file"] == str(evals)
    assert chosen[True] != chosen[False]  # the offline evidence changed the choices
