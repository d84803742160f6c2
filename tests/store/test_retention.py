"""Retention: decisions past the window go (whole days on Postgres), nothing that must stay
goes, feedback for a removed decision answers 404 "expired", and the posterior is unchanged."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
import sqlalchemy as sa

from bandit_router.store.decision_ids import COMMITTED, IdIssuer
from bandit_router.jobs.lifecycle import retention_cutoff, run_retention
from bandit_router.jobs.refit import refit
from bandit_router.policy import Posterior
from bandit_router.routing import RouteRequest
from bandit_router.store import partitions
from bandit_router.service.decisions import decision_row
from bandit_router.store.decisions import Outcome, insert_decisions
from bandit_router.store.db import transaction
from bandit_router.store.missing import set_feedback_window
from bandit_router.store.retention import Horizons
from bandit_router.store.schema import UsageRow
from tests.conftest import ADMIN

# A fixed "now" at noon, so that day boundaries fall where the test expects them.
NOW = datetime.now(timezone.utc).replace(hour=12, minute=0, second=0, microsecond=0)
DAYS_AGO = (6, 5, 4, 3, 2, 1, 0)


def _log_past_decisions(svc, per_day: int = 4, tenant: str = "acme") -> dict[int, list[str]]:
    """Decisions made at noon ``k`` days ago (with feedback and the proxy's usage), as if the
    service had been running for a week."""
    made: dict[int, list[str]] = {}
    if svc.engine.dialect.name == "postgresql":  # the partitions the job made back then
        with svc.engine.begin() as conn:
            for k in DAYS_AGO:
                for table in partitions.KEYS:
                    partitions.create_partition(conn, table, (NOW - timedelta(days=k)).date())
    for k in DAYS_AGO:
        for i in range(per_day):
            decision = svc.router.decide(RouteRequest(prompt=f"day {k} request {i}"))
            when = NOW - timedelta(days=k) + timedelta(seconds=i)
            values = decision_row(decision, tenant, None)
            values.update(id=IdIssuer().next(COMMITTED, int(when.timestamp() * 1000)), created_at=when)
            with transaction(svc.sessions) as s:
                insert_decisions(s.connection(), [values])
                s.add(UsageRow(decision_id=values["id"], recorded_at=when,
                               model_id=values["model_id"], status="ok", cost_usd=0.001,
                               attempts=[]))
            made.setdefault(k, []).append(values["id"])
    for ids in made.values():
        for j, d in enumerate(ids[:-1]):  # the last decision of each day gets no feedback
            svc.feedback(d, Outcome(reward=float(j % 2)), tenant_id=tenant)
    return made


def _count(svc, table: str) -> int:
    with svc.engine.connect() as c:
        return int(c.scalar(sa.text(f"SELECT count(*) FROM {table}")))


def _stats(svc):
    with svc.sessions() as s:
        payload = s.execute(sa.text(
            "SELECT payload FROM posteriors ORDER BY version DESC LIMIT 1")).scalar()
    return Posterior.from_bytes(payload).stats


def test_retention_drops_only_days_past_the_window_and_keeps_usage(client):
    svc = client.app.state.service
    made = _log_past_decisions(svc)
    svc.refit()
    usage_before = _count(svc, "usage")
    result = run_retention(svc.engine, 3, now=NOW)
    assert result.dropped == {"decisions": 12, "feedback": 9}  # days 6, 5 and 4 ago
    with svc.engine.connect() as c:
        left = set(c.scalars(sa.text("SELECT id FROM decisions")))
    assert left == {d for k in (3, 2, 1, 0) for d in made[k]}
    assert _count(svc, "usage") == usage_before  # usage outlives its decision
    # Feedback for a removed decision: 404 saying it expired; for a kept one it still works.
    gone = made[5][-1]
    r = client.post("/v1/feedback", json={"decision_id": gone, "reward": 1.0})
    assert r.status_code == 404 and "expired" in r.json()["detail"], r.text
    assert client.get(f"/v1/decisions/{gone}").status_code == 404
    r = client.post("/v1/feedback", json={"decision_id": made[3][-1], "reward": 1.0})
    assert r.status_code == 201, r.text
    # An id that never existed is still plain "does not exist".
    r = client.post("/v1/feedback", json={"decision_id": IdIssuer().next(COMMITTED), "reward": 1.0})
    assert r.status_code == 404 and "does not exist" in r.json()["detail"]


def test_retention_never_drops_a_decision_within_its_feedback_window(client):
    svc = client.app.state.service
    made = _log_past_decisions(svc)
    with transaction(svc.sessions) as s:
        set_feedback_window(s, "acme", 5 * 86_400 + 60, 0.0, "reject")
    svc.refit()
    result = run_retention(svc.engine, 1, now=NOW)
    with svc.engine.connect() as c:
        left = set(c.scalars(sa.text("SELECT id FROM decisions")))
    assert left == {d for k in (5, 4, 3, 2, 1, 0) for d in made[k]}
    assert result.dropped["decisions"] == 4


def test_refit_after_a_drop_gives_the_same_posterior_without_rereading_rows(make_service,
                                                                            db_url):
    from tests.conftest import TWO_MODELS

    svc = make_service(db_url, TWO_MODELS)
    with transaction(svc.sessions) as s:
        from bandit_router.store.tenants import create_tenant
        create_tenant(s, "acme", "Acme")
    _log_past_decisions(svc)
    t = NOW.timestamp()
    before = refit(svc.engine, svc.refit_config, force=True, now=t)
    stats_before = _stats(svc)
    assert run_retention(svc.engine, 2, now=NOW).dropped["decisions"] == 16
    after = refit(svc.engine, svc.refit_config, force=True, now=t)
    assert after.new_rows == 0 and after.n_feedback == before.n_feedback
    stats_after = _stats(svc)
    assert stats_after.arms == stats_before.arms
    for name in ("A", "b", "s", "n"):
        np.testing.assert_array_equal(getattr(stats_after, name), getattr(stats_before, name))


def test_retention_keeps_feedback_the_refit_has_not_learnt(make_client, db_url):
    from tests.conftest import TWO_MODELS

    client = make_client(db_url, TWO_MODELS)
    svc = client.app.state.service
    _log_past_decisions(svc)  # no refit since this feedback arrived
    feedback = _count(svc, "feedback")
    result = run_retention(svc.engine, 3, now=NOW)
    # Nothing with unlearnt feedback goes (SQLite may still delete the decisions without any).
    assert result.dropped["feedback"] == 0 and result.kept_unlearnt > 0
    assert _count(svc, "feedback") == feedback
    svc.refit()
    assert run_retention(svc.engine, 3, now=NOW).dropped["feedback"] == 9


def test_the_cutoff_keeps_windows_and_current_budget_periods():
    now = datetime(2026, 12, 20, 15, 0, tzinfo=timezone.utc)
    assert retention_cutoff(Horizons(None, ()), now, 3) == now - timedelta(days=3)
    assert retention_cutoff(Horizons(7 * 86_400.0, ()), now, 3) == now - timedelta(days=7)
    month = datetime(2026, 12, 1, tzinfo=timezone.utc)
    assert retention_cutoff(Horizons(None, ("day", "month")), now, 3) == month


@pytest.mark.postgres
def test_partitions_are_created_ahead_and_retention_drops_whole_partitions(make_client, pg_url):
    from bandit_router.jobs.lifecycle import maintain_partitions
    from tests.conftest import TWO_MODELS

    client = make_client(pg_url, TWO_MODELS)
    svc = client.app.state.service
    today = datetime.now(timezone.utc).date()
    maintain_partitions(svc.engine, 10)
    with svc.engine.connect() as c:
        days = partitions.partition_days(c, "decisions")
        assert days == partitions.partition_days(c, "feedback")
    assert today + timedelta(days=10) in days and today - timedelta(days=1) in days
    made = _log_past_decisions(svc)
    svc.refit()
    result = run_retention(svc.engine, 3, now=NOW)
    assert len(result.days) >= 3
    with svc.engine.connect() as c:
        days = partitions.partition_days(c, "decisions")
        assert min(days) == (NOW - timedelta(days=3)).date()
        assert partitions.default_rows(c) == 0
    assert r_ok(client, made[0][-1])


def r_ok(client, decision_id) -> bool:
    r = client.post("/v1/feedback", json={"decision_id": decision_id, "reward": 0.5})
    return r.status_code == 201


def test_operator_cannot_set_a_window_without_a_reward(client):
    r = client.put("/v1/tenants/acme/feedback-window", json={"default_reward": 0.5},
                   headers=ADMIN)
    assert r.status_code == 422
