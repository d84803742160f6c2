"""Refit: incremental, versioned, crash-safe, one at a time, picked up by every process."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import sqlalchemy as sa

from bandit_router.jobs import refit as refit_module
from bandit_router.policy import Posterior, Prior, SufficientStats
from tests.conftest import TWO_MODELS, route


def _feedback_rounds(client, n, reward=lambda model, i: 1.0 if model == "model-a" else 0.0):
    """Route and post feedback ``n`` times; returns the models chosen."""
    chosen = []
    for i in range(n):
        d = route(client, f"prompt {i} " + ("code def x()" if i % 2 else "essay about rivers"))
        r = client.post("/v1/feedback", json={"decision_id": d["decision_id"],
                                              "reward": reward(d["model"], i)})
        assert r.status_code == 201
        chosen.append(d["model"])
    return chosen


def _versions(svc) -> list[int]:
    with svc.engine.connect() as c:
        return [v for (v,) in c.execute(sa.text("SELECT version FROM posteriors ORDER BY 1"))]


def test_refit_without_new_feedback_stores_nothing(make_service, db_url):
    svc = make_service(db_url, TWO_MODELS)
    before = _versions(svc)
    result = svc.refit()
    assert result.version is None and result.reason == "up to date"
    assert _versions(svc) == before


def test_incremental_refits_equal_one_refit_of_everything(make_client, db_url):
    client = make_client(db_url, TWO_MODELS, half_life_s=0)
    svc = client.app.state.service
    _feedback_rounds(client, 30)
    svc.refit()
    _feedback_rounds(client, 30)
    incremental = svc.refit()
    assert incremental.new_rows == 30 and incremental.n_feedback == 60
    inc_stats = svc.router.posterior.stats

    with svc.engine.begin() as c:  # forget every posterior: the next refit starts from zero
        c.execute(sa.text("DELETE FROM posteriors"))
    full = svc.refit()
    assert full.new_rows == 60
    full_stats = svc.router.posterior.stats
    order = [full_stats.arms.index(a) for a in inc_stats.arms]
    np.testing.assert_allclose(full_stats.A[order], inc_stats.A, atol=1e-4)
    np.testing.assert_allclose(full_stats.b[order], inc_stats.b, atol=1e-4)


def test_old_feedback_is_down_weighted_by_half_life(make_client, sqlite_url):
    client = make_client(sqlite_url, TWO_MODELS, half_life_s=3600)
    svc = client.app.state.service
    _feedback_rounds(client, 20)
    svc.refit()
    n_now = svc.router.posterior.stats.n.sum()
    assert n_now == pytest.approx(20, rel=1e-3)
    stats = SufficientStats.from_bytes(svc.router.posterior.stats.to_bytes())
    stats.decay_to(stats.t + 3600, 3600)
    assert stats.n.sum() == pytest.approx(10, rel=1e-3)


def test_a_refit_that_crashes_leaves_the_previous_posterior_serving(make_client, db_url,
                                                                     monkeypatch):
    client = make_client(db_url, TWO_MODELS)
    svc = client.app.state.service
    _feedback_rounds(client, 10)
    before = _versions(svc)
    serving = svc.router.posterior.version

    def boom(*a, **k):
        raise MemoryError("simulated crash half-way through the fit")

    monkeypatch.setattr(refit_module.Posterior, "fit", boom)
    with pytest.raises(MemoryError):
        svc.refit()
    monkeypatch.undo()
    assert _versions(svc) == before
    assert svc.router.posterior.version == serving
    assert route(client)["policy_version"] == serving
    assert svc.refit().new_rows == 10  # nothing was marked as consumed by the failed refit


def test_concurrent_refits_produce_one_new_version(make_service, make_client, pg_url):
    client = make_client(pg_url, TWO_MODELS)
    _feedback_rounds(client, 40)
    services = [client.app.state.service] + [make_service(pg_url) for _ in range(3)]
    before = _versions(services[0])
    barrier = threading.Barrier(len(services))
    results = []

    def run(svc):
        barrier.wait()
        results.append(svc.refit())

    threads = [threading.Thread(target=run, args=(s,)) for s in services]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(_versions(services[0])) == len(before) + 1
    assert sum(r.version is not None for r in results) == 1
    assert {r.reason for r in results} <= {"refitted", "locked", "up to date"}


def test_every_process_loads_the_newest_posterior(make_service, make_client, pg_url):
    client = make_client(pg_url, TWO_MODELS)
    other = make_service(pg_url)  # a second replica on the same database
    _feedback_rounds(client, 20)
    version = client.app.state.service.refit().version
    assert version is not None and other.router.posterior.version != version
    other.sync()
    assert other.router.posterior.version == version
    np.testing.assert_allclose(other.router.posterior.theta,
                               client.app.state.service.router.posterior.theta)


def test_scheduler_refits_on_its_own(make_client, sqlite_url):
    import time

    client = make_client(sqlite_url, TWO_MODELS, scheduler=True, refit_interval_s=0.5,
                         posterior_poll_s=0.5)
    start = client.app.state.service.router.posterior.version
    _feedback_rounds(client, 5)
    deadline = time.time() + 10
    while time.time() < deadline and client.app.state.service.router.posterior.version == start:
        time.sleep(0.2)
    assert client.app.state.service.router.posterior.version > start
    assert client.app.state.service.router.posterior.stats.n.sum() > 0


def test_posterior_round_trips_through_bytes():
    stats = SufficientStats.empty(["a", "b"], 5)
    rng = np.random.default_rng(1)
    stats.update(rng.integers(0, 2, 50), rng.normal(size=(50, 5)), rng.random(50))
    post = Posterior.fit(stats, Prior())
    again = Posterior.from_bytes(post.to_bytes())
    np.testing.assert_array_equal(again.theta, post.theta)
    assert again.arms == ["a", "b"]


@pytest.mark.parametrize("detect", [True, False])
def test_a_model_whose_reward_collapses_is_forgotten_at_the_next_refit(make_client, db_url,
                                                                       detect):
    # Small `keep` and threshold keep the test short; the defaults are measured in
    # simulations/README.md.
    client = make_client(db_url, TWO_MODELS, half_life_s=0, drift_detection=detect,
                         drift_keep=10, drift_threshold=8)
    svc = client.app.state.service
    _feedback_rounds(client, 60)  # model-a always right, model-b always wrong
    assert svc.refit().drift_alarms == ()
    a = svc.router.posterior.arms.index("model-a")
    n_before = svc.router.posterior.stats.n[a]
    assert n_before > 10
    x = svc.router.featurizer.transform("prompt 7 code def x()")
    mean_before = svc.router.posterior.view(["model-a"]).predict(x)[0][0]

    chosen = _feedback_rounds(client, 40, reward=lambda model, i: 0.0)  # now both fail
    result = svc.refit()
    post = svc.router.posterior
    mean_a = post.view(["model-a"]).predict(x)[0][0]
    if detect:
        assert result.drift_alarms == ("model-a",)
        # Its past now weighs `keep` = 10 observations, plus the new ones.
        assert post.stats.n[a] == pytest.approx(10 + chosen.count("model-a"))
        assert mean_a < mean_before - 0.4
        assert 'bandit_router_drift_alarms_total{model="model-a"}' in client.get(
            "/metrics").text
    else:
        assert result.drift_alarms == ()
        assert post.stats.n[a] == pytest.approx(n_before + chosen.count("model-a"))
