"""Warm start from offline evaluations, stored as a posterior version the service serves."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from bandit_router.routing.catalog import ModelSpec
from bandit_router.cli import app
from bandit_router.jobs.warm_start import warm_start
from tests.conftest import TWO_MODELS, route

THIRD = ModelSpec(id="model-c", input_price_per_mtok=1.0, output_price_per_mtok=2.0,
                  context_window=100_000)
CODE, ESSAY = "write code def parse(x) return", "an essay about rivers and mountains"


def _evals(n: int = 40):
    """model-a is right on code prompts, model-b on essays; 'model-x' is not registered."""
    prompts = [f"{CODE if i % 2 else ESSAY} {i}" for i in range(n)]
    a = np.array([1.0 if i % 2 else 0.0 for i in range(n)])
    return prompts, ("model-a", "model-b", "model-x"), np.stack([a, 1 - a, a], axis=1)


def test_warm_start_is_served_and_the_refit_continues_from_it(make_client, pg_url):
    client = make_client(pg_url, [*TWO_MODELS, THIRD], half_life_s=0)
    svc = client.app.state.service
    prompts, models, scores = _evals()
    result = warm_start(svc.engine, svc.refit_config, svc.router.featurizer, prompts, models,
                        scores, weight=0.5)
    assert result.ignored == ("model-x",) and result.models == ("model-a", "model-b")
    svc.sync()
    post = svc.router.posterior
    assert post.version == result.version
    view = post.view(("model-a", "model-b", "model-c"))
    code_mean, _ = view.predict(svc.router.featurizer.transform(f"{CODE} 99"))
    essay_mean, _ = view.predict(svc.router.featurizer.transform(f"{ESSAY} 98"))
    assert code_mean[0] > code_mean[1] + 0.3 and essay_mean[1] > essay_mean[0] + 0.3
    # model-c is not in the evaluations: it keeps its prior (optimism on the bias).
    np.testing.assert_allclose(view.theta[2], post.view(("model-c",)).theta[0])
    assert view.n[2] == 0
    np.testing.assert_allclose(post.stats.n[post.stats.arms.index("model-a")], 20.0)

    for i in range(10):  # live feedback after the warm start
        d = route(client, f"{CODE} live {i}")
        assert client.post("/v1/feedback", json={"decision_id": d["decision_id"],
                                                 "reward": 1.0}).status_code == 201
    svc.flush()
    refit = svc.refit()
    assert refit.version > result.version and refit.new_rows == 10
    stats = svc.router.posterior.stats
    assert stats.n.sum() == 20.0 + 20.0 + 10  # offline evidence kept, live rows added
    with svc.engine.connect() as c:
        versions = [v for (v,) in c.execute(sa.text("SELECT version FROM posteriors ORDER BY 1"))]
    assert versions[-2:] == [result.version, refit.version]


def test_warm_start_command_warns_about_unknown_models_and_refuses_bad_files(
        make_service, sqlite_url, tmp_path):
    make_service(sqlite_url, TWO_MODELS)
    prompts, models, scores = _evals(10)
    good = tmp_path / "evals.csv"
    with good.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["prompt", *models])
        w.writerows([p, *map(str, row)] for p, row in zip(prompts, scores))
    runner = CliRunner()
    res = runner.invoke(app, ["warm-start", "--data", str(good), "--weight", "0.2",
                              "--database-url", sqlite_url])
    assert res.exit_code == 0, res.output
    assert "warning: ignoring models that are not registered: model-x" in res.output
    assert '"requests": 10' in res.output

    bad = tmp_path / "bad.csv"
    bad.write_text("question,model-a\nhello,True\n")
    for args in (["--data", str(bad)], ["--data", str(tmp_path / "missing.csv")],
                 ["--data", str(good), "--weight", "0"]):
        res = runner.invoke(app, ["warm-start", *args, "--database-url", sqlite_url])
        assert res.exit_code == 2, res.output
        assert "Traceback" not in res.output and res.output.startswith("error:")


def test_warm_start_learns_prices_from_total_cost_columns_and_the_route_shows_them(
        make_client, pg_url, tmp_path):
    # model-a answers code prompts briefly (a fifth of its catalog estimate) and essays at
    # length (three times it); model-b costs what its catalog says.
    client = make_client(pg_url, TWO_MODELS, half_life_s=0)
    svc = client.app.state.service
    prompts, _, _ = _evals(60)
    est = {p: svc.router.default_output_tokens * 2.0 / 1e6 for p in prompts}  # output part
    with (tmp_path / "priced.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["prompt", "model-a", "model-b", "model-a|total_cost", "model-b|total_cost"])
        for i, p in enumerate(prompts):
            base = est[p] + len(p) / 3.5 / 1e6  # ≈ the router's estimate of this prompt
            w.writerow([p, 0.5, 0.5, base * (0.2 if i % 2 else 3.0), base])
    res = CliRunner().invoke(app, ["warm-start", "--data", str(tmp_path / "priced.csv"),
                                   "--database-url", pg_url])
    assert res.exit_code == 0, res.output
    svc.sync()
    decisions = [route(client, f"{CODE} 99"), route(client, f"{ESSAY} 98")]
    code, essay = (d["explanation"]["models"] for d in decisions)
    for d in decisions:  # what a budget reserves stays the catalog estimate
        chosen = d["explanation"]["models"][d["model"]]
        assert d["estimated_cost_usd"] == chosen["estimated_cost_usd"]
    a_code, a_essay = (m["model-a"] for m in (code, essay))
    assert a_code["learned_cost_usd"] < 0.35 * a_code["estimated_cost_usd"]
    assert a_essay["learned_cost_usd"] > 2.5 * a_essay["estimated_cost_usd"]
    for m in (code, essay):  # learned its catalog price, within the estimate's rounding
        b = m["model-b"]
        assert b["learned_cost_usd"] == pytest.approx(b["estimated_cost_usd"], rel=0.1)
