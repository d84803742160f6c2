"""The refit job and the simulator learn the same posterior from the same feedback."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import sqlalchemy as sa

from bandit_router.jobs.refit import refit
from bandit_router.policy import Posterior
from bandit_router.store.posteriors import load_posterior
from simulations import runner
from simulations.data import Dataset
from tests.conftest import ADMIN, TWO_MODELS, route

T0 = 1_800_000_000.0  # epoch seconds of the first feedback; the simulator counts steps from 0


def _round(client, start: int, n: int, reward) -> list[tuple[str, str, float]]:
    """``n`` routed prompts with feedback; (prompt, model, reward) of each, in order."""
    out = []
    for i in range(start, start + n):
        prompt = f"request {i} " + ("def f(x): return x" if i % 3 else "a poem about rain")
        d = route(client, prompt)
        r = reward(d["model"], i)
        assert client.post("/v1/feedback", json={"decision_id": d["decision_id"],
                                                 "reward": r}).status_code == 201
        out.append((prompt, d["model"], r))
    return out


def _stamp_feedback_times(engine, first_step: int) -> None:
    """Give the feedback rows from the ``first_step``-th on (in id order) the times
    T0 + first_step + 1, T0 + first_step + 2, …: the simulator's step + 1."""
    with engine.begin() as c:
        ids = [i for (i,) in c.execute(sa.text("SELECT id FROM feedback ORDER BY id"))]
        for step, i in enumerate(ids[first_step:], start=first_step):
            at = datetime.fromtimestamp(T0 + step + 1, tz=timezone.utc)
            c.execute(sa.text("UPDATE feedback SET received_at = :t WHERE id = :i"),
                      {"t": at, "i": i})


def _assert_same(db: Posterior, sim: Posterior) -> None:
    assert set(db.arms) == set(sim.arms)
    for arm in sim.arms:
        i, j = db.arms.index(arm), sim.arms.index(arm)
        for name in ("A", "b", "s", "n", "cusum", "b_cost"):
            np.testing.assert_allclose(getattr(db.stats, name)[i], getattr(sim.stats, name)[j],
                                       rtol=1e-9, atol=1e-9, err_msg=f"{name} of {arm}")
        np.testing.assert_allclose(db.theta[i], sim.theta[j], rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(db.noise_sd[i], sim.noise_sd[j], rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(db.cost_w[i], sim.cost_w[j], rtol=1e-9, atol=1e-9)


def test_the_refit_job_and_the_simulator_learn_the_same_posterior(make_client, pg_url):
    # Discounting, change detection (small threshold and keep so it fires within the test)
    # and unseen models are all exercised: the service starts without statistics.
    client = make_client(pg_url, TWO_MODELS, half_life_s=60, drift_threshold=4, drift_keep=5)
    svc = client.app.state.service
    cfg = svc.refit_config
    # The refit job, on the database: a refit after each of two rounds of feedback.
    first = _round(client, 0, 80, lambda m, i: 0.9 if m == "model-a" else 0.2 + 0.1 * (i % 2))
    _stamp_feedback_times(svc.engine, 0)
    one = refit(svc.engine, cfg, now=T0 + len(first))
    second = _round(client, 80, 80, lambda m, i: 0.1 if m == "model-a" else 0.3)  # a collapses
    _stamp_feedback_times(svc.engine, len(first))
    rows = first + second
    n1, n = len(first), len(rows)
    two = refit(svc.engine, cfg, now=T0 + n)
    assert one.new_rows == n1 and two.new_rows == n - n1
    assert two.drift_alarms == ("model-a",)
    with svc.sessions() as s:
        db_one = Posterior.from_bytes(load_posterior(s, one.version).payload)
        db_two = Posterior.from_bytes(load_posterior(s, two.version).payload)

    # The simulator, on the same feedback: every request's features (as the decision log
    # keeps them, in float32), the chosen model and its reward.
    models = tuple(m.id for m in TWO_MODELS)
    X = np.array([svc.router.featurizer.transform(p) for p, _, _ in rows])
    X = X.astype(np.float32).astype(np.float64)
    arm = np.array([models.index(m) for _, m, _ in rows], dtype=np.intp)
    reward = np.zeros((n, len(models)))
    reward[np.arange(n), arm] = [r for _, _, r in rows]
    data = Dataset("feedback", models, X, reward, reward.copy(), np.zeros_like(reward))
    sim = runner.PolicyConfig("thompson", refit_every=n1, spec=cfg.spec)
    start = Posterior.from_prior(list(models), X.shape[1], cfg.spec.prior)
    sim_one = runner.refit(data, sim, start, np.arange(n1), arm)
    sim_two = runner.refit(data, sim, sim_one.posterior, np.arange(n1, n), arm)

    assert sim_two.drift_alarms == two.drift_alarms
    _assert_same(db_one, sim_one.posterior)
    _assert_same(db_two, sim_two.posterior)


def test_the_refit_job_and_the_simulator_learn_the_same_prices(make_client, pg_url):
    # Each call's charged price (the feedback's cost_usd, taken as reported: the operator
    # trusts the tenant's reports) differs from the decision's estimate by the kind of
    # request: code answers are cheap, poems dear. The refit job learns it from the stored
    # estimate and charge; the simulator from the same two prices of the chosen call.
    client = make_client(pg_url, TWO_MODELS, half_life_s=60)
    assert client.put("/v1/tenants/acme/trust", json={"trust_reported_cost": True},
                      headers=ADMIN).status_code == 200
    svc = client.app.state.service
    cfg = svc.refit_config
    rows = []
    for i in range(120):
        code = i % 3 != 0
        prompt = f"request {i} " + ("def f(x): return x" if code else "a poem about rain")
        d = route(client, prompt)
        paid = d["estimated_cost_usd"] * (0.2 if code else 3.0) * (1 + 0.01 * (i % 7))
        assert client.post("/v1/feedback", json={"decision_id": d["decision_id"],
                                                 "reward": 0.5, "cost_usd": paid}
                           ).status_code == 201
        rows.append((prompt, d["model"], d["estimated_cost_usd"], paid))
    _stamp_feedback_times(svc.engine, 0)
    n = len(rows)
    out = refit(svc.engine, cfg, now=T0 + n)
    with svc.sessions() as s:
        db = Posterior.from_bytes(load_posterior(s, out.version).payload)
        charged = [c for (c,) in s.execute(sa.text("SELECT charged_usd FROM feedback "
                                                   "ORDER BY id"))]
    np.testing.assert_allclose(charged, [p for *_, p in rows])

    models = tuple(m.id for m in TWO_MODELS)
    X = np.array([svc.router.featurizer.transform(p) for p, *_ in rows])
    X = X.astype(np.float32).astype(np.float64)
    arm = np.array([models.index(m) for _, m, _, _ in rows], dtype=np.intp)
    cells = np.arange(n), arm
    reward, estimate, paid = (np.zeros((n, len(models))) for _ in range(3))
    reward[cells] = 0.5
    estimate[cells] = [e for _, _, e, _ in rows]
    paid[cells] = [p for *_, p in rows]
    data = Dataset("feedback", models, X, reward, reward.copy(), estimate, charged=paid)
    sim = runner.PolicyConfig("thompson", refit_every=n, spec=cfg.spec)
    start = Posterior.from_prior(list(models), X.shape[1], cfg.spec.prior)
    learned = runner.refit(data, sim, start, np.arange(n), arm).posterior
    _assert_same(db, learned)
    assert np.abs(db.cost_w).max() > 0.1  # a cost model was learned, not two zeros

    # What it learned: a code call is priced below its estimate, a poem above.
    view = db.view(models)
    one = np.ones(len(models))
    code = view.learned_cost(svc.router.featurizer.transform("request 999 def f(x): return x"),
                             one)
    poem = view.learned_cost(svc.router.featurizer.transform("request 999 a poem about rain"),
                             one)
    seen = [j for j in range(len(models)) if view.n[j] > 20]
    assert seen and all(code[j] < 0.6 and poem[j] > 1.8 for j in seen)
