"""Archive: ``bandit-router export`` writes Parquet that ``evaluate --log`` reads, with the same
estimates as evaluating the database, and retention can export each day before dropping it."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from bandit_router.cli import app
from tests.conftest import ADMIN, TWO_MODELS, route


def _cli(*args: str):
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def _traffic(client, n: int) -> None:
    for i in range(n):
        d = route(client, f"question {i}: {'fix this python bug' if i % 2 else 'write a poem'}")
        if i % 9 == 8:
            continue  # some decisions never get feedback
        body = {"decision_id": d["decision_id"], "cost_usd": 0.001 * (1 + i % 3)}
        if i % 13 == 0:
            body["error"] = "upstream timeout"
        else:
            body["reward"] = 1.0 if d["model"] == "model-a" else 0.3
        assert client.post("/v1/feedback", json=body).status_code == 201
        if i % 30 == 29:
            assert client.post("/v1/admin/refit", headers=ADMIN).status_code == 200
    assert client.app.state.service.flush()  # decisions are logged in batches


@pytest.mark.parametrize("candidate", ["thompson", "fixed:model-b"])
def test_export_then_evaluate_gives_the_estimates_of_the_database(make_client, db_url, tmp_path,
                                                                 candidate):
    client = make_client(db_url, TWO_MODELS)
    _traffic(client, 90)
    out = tmp_path / "log.parquet"
    res = _cli("export", "--database-url", db_url, "--out", str(out))
    assert res.exit_code == 0, res.output
    assert "wrote 90 decisions" in res.output
    table = pq.read_table(out)
    assert table.num_rows == 90 and table.column("has_feedback").to_pylist().count(True) == 80
    assert {"propensity", "features", "candidates", "reward", "usage_cost_usd"} <= set(
        table.column_names)

    estimates = {}
    for source in (["--database-url", db_url], ["--log", str(out)]):
        path = tmp_path / f"{len(estimates)}.json"
        res = _cli("evaluate", *source, "--candidate", candidate, "--boot", "100",
                   "--json", str(path))
        assert res.exit_code == 0, res.output
        estimates[source[0]] = json.loads(path.read_text())
    db, archive = estimates["--database-url"], estimates["--log"]
    # 80 decisions have feedback; the 6 with an error and no reward are not evaluated.
    assert archive["decisions"] == db["decisions"] == 74
    assert archive["estimates"] == db["estimates"]


def test_export_selects_a_period_and_refuses_a_bad_time(make_client, db_url, tmp_path):
    client = make_client(db_url, TWO_MODELS)
    _traffic(client, 10)
    res = _cli("export", "--database-url", db_url, "--since", "2999-01-01",
               "--out", str(tmp_path / "none.parquet"))
    assert res.exit_code == 0 and "wrote 0 decisions" in res.output
    res = _cli("export", "--database-url", db_url, "--since", "yesterday",
               "--out", str(tmp_path / "x.parquet"))
    assert res.exit_code == 2 and "not an ISO date" in res.output
    res = _cli("evaluate", "--log", str(tmp_path / "missing.parquet"))
    assert res.exit_code == 2 and "does not exist" in res.output


def test_retention_exports_each_range_before_dropping_it(make_client, db_url, tmp_path):
    from tests.store.test_retention import NOW, _log_past_decisions
    from bandit_router.jobs.lifecycle import run_retention

    client = make_client(db_url, TWO_MODELS)
    svc = client.app.state.service
    _log_past_decisions(svc)
    svc.refit()
    result = run_retention(svc.engine, 3, now=NOW, export_dir=tmp_path / "archive")
    files = sorted((tmp_path / "archive").glob("decisions-*[0-9].parquet"))
    assert files and sum(pq.read_table(f).num_rows for f in files) == result.dropped["decisions"]
    assert all(f.with_name(f.stem + ".posteriors.parquet").exists() for f in files)


def test_simulate_refuses_an_archive_and_points_to_evaluate(tmp_path):
    archive = tmp_path / "log.parquet"
    archive.write_bytes(b"PAR1")
    res = _cli("simulate", "--data", str(archive))
    assert res.exit_code == 2
    assert "evaluate --log" in res.output and "every" in res.output
