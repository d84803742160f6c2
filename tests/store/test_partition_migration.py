"""Migration 0006 converts a populated Postgres database to partitioned tables, row for row."""

from __future__ import annotations


import pytest
import sqlalchemy as sa

from bandit_router.store import migrate, partitions
from bandit_router.store.db import make_engine

DECISION_COLUMNS = ("id, tenant_id, created_at, model_id, propensity, policy, policy_version, "
                    "cost_weight, features, candidates::text, input_tokens_est, "
                    "output_tokens_est, estimated_cost_usd, scores::text, metadata::text, "
                    "budget_period_start")
FEEDBACK_COLUMNS = ("id, decision_id, received_at, reward, input_tokens, output_tokens, "
                    "cost_usd, latency_ms, error, charged_usd")


def _populate(conn, n: int) -> None:
    """``n`` decisions over 12 days as revision 0003 stored them; feedback for two in three."""
    conn.execute(sa.text(f"""
        INSERT INTO decisions SELECT
            md5(i::text)::uuid::text, CASE WHEN i % 3 = 0 THEN NULL ELSE 't' || (i % 4) END,
            now() - make_interval(secs => (i * 1036800.0 / {n})), 'model-' || (i % 3),
            0.5, 'thompson', i % 7, 0.0, decode(md5(i::text), 'hex'),
            '["model-0", "model-1", "model-2"]', 10 + i % 50, 100, 0.001 * (i % 5),
            '{{"model-0": {{"eligible": true}}}}', CASE WHEN i % 2 = 0 THEN '{{"k": 1}}'::json END,
            NULL
        FROM generate_series(1, {n}) i"""))
    conn.execute(sa.text("""
        INSERT INTO feedback (decision_id, received_at, reward, latency_ms, error, charged_usd)
        SELECT id, created_at + interval '5 seconds', CASE WHEN policy_version % 5 = 0 THEN NULL
               ELSE (policy_version % 2)::float END, 120.5,
               CASE WHEN policy_version % 5 = 0 THEN 'timeout' END, estimated_cost_usd
        FROM decisions WHERE input_tokens_est % 3 <> 0"""))
    conn.execute(sa.text("""
        INSERT INTO usage SELECT id, created_at, model_id, 10, 20, 0.002, 300.0, 'ok', NULL, '[]'
        FROM decisions WHERE input_tokens_est % 2 = 0"""))


def _fingerprint(conn) -> dict:
    out = {}
    for table, cols in (("decisions", DECISION_COLUMNS), ("feedback", FEEDBACK_COLUMNS),
                        ("usage", "decision_id, recorded_at, model_id, cost_usd")):
        out[table] = tuple(conn.execute(sa.text(
            f"SELECT count(*), md5(string_agg(t::text, '|' ORDER BY t::text)) "
            f"FROM (SELECT {cols} FROM {table}) t")).one())
    return out


@pytest.mark.postgres
def test_migration_partitions_a_populated_database_without_losing_a_row(empty_pg_engine):
    engine = empty_pg_engine
    migrate.upgrade(engine, "0003")
    with engine.begin() as conn:
        _populate(conn, 30_000)
        before = _fingerprint(conn)
        next_id = conn.scalar(sa.text("SELECT last_value FROM feedback_id_seq"))
    assert before["feedback"][0] > 15_000 and before["usage"][0] > 10_000
    migrate.upgrade(engine)
    with engine.begin() as conn:
        assert partitions.is_partitioned(conn)
        assert _fingerprint(conn) == before
        days = partitions.partition_days(conn, "decisions")
        assert len(days) >= 13 and partitions.default_rows(conn) == 0
        # New feedback continues the id sequence (the refit's watermark stays valid).
        d = conn.execute(sa.text("SELECT id, created_at FROM decisions d WHERE NOT EXISTS "
                                 "(SELECT 1 FROM feedback f WHERE f.decision_id = d.id) "
                                 "LIMIT 1")).one()
        new_id = conn.scalar(sa.text(
            "INSERT INTO feedback (decision_id, decision_created_at, received_at, reward) "
            "VALUES (:d, :t, now(), 1.0) RETURNING id"), {"d": d.id, "t": d.created_at})
        assert new_id == next_id + 1
        # One feedback per decision is still enforced.
        with pytest.raises(sa.exc.IntegrityError):
            with conn.begin_nested():
                conn.execute(sa.text(
                    "INSERT INTO feedback (decision_id, decision_created_at, received_at, "
                    "reward) VALUES (:d, :t, now(), 0.0)"), {"d": d.id, "t": d.created_at})


def test_sqlite_upgrade_keeps_every_row_and_fills_the_decision_time(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    migrate.upgrade(engine, "0003")
    with engine.begin() as conn:
        for i in range(50):
            conn.execute(sa.text(
                "INSERT INTO decisions (id, tenant_id, created_at, model_id, propensity, policy, "
                "policy_version, cost_weight, features, candidates, input_tokens_est, "
                "output_tokens_est, estimated_cost_usd, scores) VALUES (:id, NULL, "
                ":t, 'm', 0.5, 'thompson', 1, 0, x'00', '[\"m\"]', 1, 1, 0.0, '{}')"),
                {"id": f"d{i}", "t": f"2026-11-{1 + i % 28:02d} 10:00:00.000000"})
            if i % 2:
                conn.execute(sa.text("INSERT INTO feedback (decision_id, received_at, reward) "
                                     "VALUES (:d, '2026-11-30 00:00:00.000000', 1.0)"),
                             {"d": f"d{i}"})
            conn.execute(sa.text("INSERT INTO usage (decision_id, recorded_at, model_id, status, "
                                 "attempts) VALUES (:d, '2026-11-30 00:00:00', 'm', 'ok', '[]')"),
                         {"d": f"d{i}"})
    migrate.upgrade(engine)
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM decisions")) == 50
        assert conn.scalar(sa.text("SELECT count(*) FROM usage")) == 50
        rows = conn.execute(sa.text(
            "SELECT f.decision_created_at = d.created_at, f.origin FROM feedback f "
            "JOIN decisions d ON d.id = f.decision_id")).all()
    engine.dispose()
    assert len(rows) == 25 and all(same and origin == "app" for same, origin in rows)
