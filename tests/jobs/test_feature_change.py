"""Changing the request features (BANDIT_ROUTER_FEATURE_WORDS / _BUCKETS) on a database that
has learned with other ones: no crash, no posterior served for features it was not fitted on,
learning restarts from the prior and says why."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from fastapi.testclient import TestClient

from bandit_router.api.app import create_app
from tests.conftest import OPERATOR_KEY, TWO_MODELS, route


def _learn(client, n: int) -> None:
    for i in range(n):
        d = route(client, f"prompt {i} " + ("code def x()" if i % 2 else "essay about rivers"))
        r = client.post("/v1/feedback", json={"decision_id": d["decision_id"],
                                              "reward": 1.0 if d["model"] == "model-a" else 0.0})
        assert r.status_code == 201


def _rows(svc):
    with svc.engine.connect() as c:
        return c.execute(sa.text("SELECT version, feature_dim, feature_spec, n_feedback "
                                 "FROM posteriors ORDER BY version")).all()


def _second_process(make_service, url, headers, **features):
    """Another process of the same deployment (same tenant and key), with ``features``."""
    client = TestClient(create_app(service=make_service(url, TWO_MODELS,
                                                        admin_key=OPERATOR_KEY, **features)),
                        raise_server_exceptions=False)
    client.headers.update(headers)
    return client


def test_same_size_other_words_restart_learning_instead_of_reading_the_old_weights(
        make_client, make_service, db_url, caplog):
    # Hashed words in 64 buckets and WordLlama's 64 dimensions make vectors of the same size
    # (89): only the recorded feature spec tells the two posteriors apart.
    old = make_client(db_url, TWO_MODELS, feature_words="hashed", feature_buckets=64)
    _learn(old, 20)
    old.app.state.service.refit()
    learned = _rows(old.app.state.service)[-1]
    assert (learned.feature_dim, learned.feature_spec, learned.n_feedback) == (
        89, "hashed-64x2+16", 20)

    with caplog.at_level(logging.WARNING):
        new = _second_process(make_service, db_url, old.headers, feature_words="wordllama",
                              feature_buckets=64)
    svc = new.app.state.service
    fresh = _rows(svc)[-1]
    assert (fresh.feature_dim, fresh.feature_spec, fresh.n_feedback) == (
        89, "wordllama-64+16", 0)
    assert svc.router.posterior.version == fresh.version
    assert "fitted on other features (hashed-64x2+16" in caplog.text
    assert "cannot be featurised again" in caplog.text

    d = route(new, "Write a SQL query that finds duplicate emails")
    assert d["policy_version"] == fresh.version
    _learn(new, 6)
    assert svc.refit().n_feedback == 6  # the new features' feedback, and only it

    # The old process, still running with hashed features, does not serve the new version.
    old_svc = old.app.state.service
    with caplog.at_level(logging.WARNING):
        old_svc.sync()
    assert old_svc.router.posterior.version == learned.version
    assert "not served" in caplog.text
    assert route(old, "hello")["policy_version"] == learned.version


def test_versions_stored_before_the_spec_was_recorded_count_as_hashed(make_client, sqlite_url):
    client = make_client(sqlite_url, TWO_MODELS, feature_words="hashed", feature_buckets=256)
    svc = client.app.state.service
    _learn(client, 10)
    svc.refit()
    with svc.engine.begin() as c:  # as migration 0008 leaves the rows written before it
        c.execute(sa.text("UPDATE posteriors SET feature_spec = NULL"))
    _learn(client, 4)
    res = svc.refit()
    assert res.n_feedback == 14 and _rows(svc)[-1].feature_spec == "hashed-256x2+16"
