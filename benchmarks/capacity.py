"""Capacity of the decision log on Postgres: bytes per decision and per feedback row (table and
indexes, ``pg_total_relation_size`` on a populated database), the migration that partitions it,
partition create/drop cost, and refit time from stored statistics once old rows are gone.

    python -m benchmarks.capacity [N_DECISIONS]     # default 200,000; writes results/capacity.json

Rows are what the service writes: decisions made by the real Router (example line-up, real
featuriser on generated prompts of up to 2 KB, candidates and per-model scores as logged),
feedback with a reward, latency and cost for every decision (an upper bound: apps that answer
fewer decisions store less). They are loaded with COPY into a database at revision 0005
(unpartitioned), spread over the last 4 days, then migration 0006 partitions them.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timedelta, timezone

import numpy as np
import psycopg

from benchmarks.common import ROOT, machine, pg_database, prompts, save, uptime
from bandit_router.routing.catalog import load_catalog
from bandit_router.features import FeatureSpec, Featurizer
from bandit_router.store.decision_ids import COMMITTED, IdIssuer
from bandit_router.policy import Posterior, PolicySpec
from bandit_router.routing import RouteRequest, Router
from bandit_router.store.codec import encode_features

DAYS = 4
RATES = (100, 1_000, 5_000)  # routes per second


def _decisions(n_distinct: int = 3_000) -> list[tuple]:
    """Rows of real routing decisions (without id and time)."""
    specs = load_catalog(ROOT / "examples" / "models.toml")
    spec = FeatureSpec()
    policy = PolicySpec(kind="thompson")
    router = Router(Featurizer(spec), policy.policy(),
                    Posterior.from_prior([], spec.dim, policy.prior, version=0), specs)
    rng = np.random.default_rng(3)
    texts = prompts(n_distinct, size=2048, seed=9)
    out = []
    for t, cut in zip(texts, rng.integers(60, 2048, size=n_distinct)):
        d = router.decide(RouteRequest(prompt=t[:cut]))
        out.append(("bench", d.model, d.propensity, d.policy, d.policy_version, d.cost_weight,
                    encode_features(d.features), json.dumps(d.candidates), d.input_tokens,
                    d.output_tokens, d.estimated_cost_usd, json.dumps(d.explanation["models"])))
    return out


def load(url: str, n: int, end: datetime) -> float:
    """COPY ``n`` decisions spread over ``DAYS`` days before ``end``, each with feedback."""
    t0 = time.perf_counter()
    rows = _decisions()
    rng = np.random.default_rng(1)
    step = DAYS * 86_400 / n
    ids, times = [], []
    issuer = IdIssuer()
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
        with conn.cursor().copy(
                "COPY decisions (id, created_at, tenant_id, model_id, propensity, policy, "
                "policy_version, cost_weight, features, candidates, input_tokens_est, "
                "output_tokens_est, estimated_cost_usd, scores) FROM STDIN") as cp:
            for i in range(n):
                when = end - timedelta(seconds=(n - i) * step)
                did = issuer.next(COMMITTED, int(when.timestamp() * 1000))
                ids.append(did)
                times.append(when)
                cp.write_row((did, when, *rows[i % len(rows)]))
        reward = np.round(rng.random(n), 3)
        with conn.cursor().copy(
                "COPY feedback (decision_id, decision_created_at, received_at, reward, "
                "input_tokens, output_tokens, cost_usd, latency_ms, charged_usd, origin) "
                "FROM STDIN") as fb:
            for i in range(n):
                fb.write_row((ids[i], times[i], times[i] + timedelta(seconds=3),
                              float(reward[i]), 812, 240, 0.0031, 1234.5, 0.0031, "app"))
    return time.perf_counter() - t0


def sizes(conn) -> dict:
    """Bytes of each partitioned table: heap (with TOAST) and indexes, over its partitions."""
    out = {}
    for table in ("decisions", "feedback"):
        heap, index, rows = conn.execute(
            "SELECT sum(pg_table_size(inhrelid)), sum(pg_indexes_size(inhrelid)), "
            "sum(c.reltuples) FROM pg_inherits JOIN pg_class c ON c.oid = inhrelid "
            f"WHERE inhparent = '{table}'::regclass").fetchone()
        total = conn.execute(f"SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits "
                             f"WHERE inhparent = '{table}'::regclass").fetchone()[0]
        n = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        out[table] = {"rows": n, "table_bytes": int(heap), "index_bytes": int(index),
                      "total_bytes": int(total), "bytes_per_row": round(int(total) / n, 1),
                      "table_bytes_per_row": round(int(heap) / n, 1),
                      "index_bytes_per_row": round(int(index) / n, 1)}
    widths = conn.execute(
        "SELECT avg(octet_length(features)), avg(octet_length(scores::text)), "
        "avg(octet_length(candidates::text)) FROM decisions").fetchone()
    out["decisions"]["mean_bytes"] = {"features": round(float(widths[0]), 1),
                                      "scores_json": round(float(widths[1]), 1),
                                      "candidates_json": round(float(widths[2]), 1)}
    return out


def run(n: int = 200_000) -> dict:
    from bandit_router.config import Settings
    from bandit_router.jobs.lifecycle import run_retention
    from bandit_router.jobs.refit import RefitConfig, refit
    from bandit_router.store import migrate, partitions
    from bandit_router.store.db import make_engine

    out = {"benchmark": "capacity", "machine": machine(), "uptime_before": uptime(),
           "decisions": n, "days": DAYS}
    end = datetime.now(timezone.utc)
    with pg_database("br_bench_capacity", "0005") as url:
        out["load_seconds"] = round(load(url, n, end), 1)
        engine = make_engine(url)
        t0 = time.perf_counter()
        migrate.upgrade(engine)  # 0006: partition the populated tables
        out["migration_0006_seconds"] = round(time.perf_counter() - t0, 2)
        out["migration_0006_seconds_per_million_decisions"] = round(
            out["migration_0006_seconds"] / n * 1e6, 1)
        raw = psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True)
        raw.execute("VACUUM ANALYZE decisions")
        raw.execute("VACUUM ANALYZE feedback")
        out["sizes"] = sizes(raw)
        per_pair = out["sizes"]["decisions"]["bytes_per_row"] + out["sizes"]["feedback"][
            "bytes_per_row"]
        out["per_day"] = {str(r): {"decisions_per_day": r * 86_400,
                                   "feedback_per_day": r * 86_400,
                                   "gb_per_day": round(r * 86_400 * per_pair / 1e9, 2)}
                          for r in RATES}
        # Partition create (empty, ahead) and drop (a populated day) cost.
        today = end.date()
        create_ms = []
        with engine.begin() as conn:
            for k in range(30, 40):
                t0 = time.perf_counter()
                for table in partitions.KEYS:
                    partitions.create_partition(conn, table, today + timedelta(days=k))
                create_ms.append((time.perf_counter() - t0) * 1e3)
        out["partition_create_ms_per_day"] = round(float(np.median(create_ms)), 2)

        cfg = RefitConfig.from_settings(Settings(database_url=url), FeatureSpec().dim)
        t0 = time.perf_counter()
        full = refit(engine, cfg, force=True)
        out["refit_all_rows_seconds"] = round(time.perf_counter() - t0, 2)
        out["refit_all_rows"] = full.new_rows
        oldest = today - timedelta(days=DAYS)
        with engine.connect() as conn:
            day_rows = int(conn.exec_driver_sql(
                f'SELECT count(*) FROM "{partitions.partition_name("decisions", oldest)}"'
            ).scalar())
        t0 = time.perf_counter()
        result = run_retention(engine, 1.0, now=end)
        drop_s = time.perf_counter() - t0
        out["retention"] = {"days_dropped": result.days, "rows_dropped": result.dropped,
                            "seconds": round(drop_s, 3),
                            "ms_per_day_dropped": round(drop_s * 1e3 / max(len(result.days), 1),
                                                        1),
                            "rows_in_oldest_day": day_rows}
        t0 = time.perf_counter()
        again = refit(engine, cfg, force=True)
        out["refit_from_statistics_seconds"] = round(time.perf_counter() - t0, 3)
        out["refit_from_statistics_new_rows"] = again.new_rows
        with engine.connect() as conn:
            out["rows_left"] = int(conn.exec_driver_sql("SELECT count(*) FROM decisions").scalar())
        raw.close()
        engine.dispose()
    out["uptime_after"] = uptime()
    save("capacity", out)
    print(json.dumps({k: v for k, v in out.items() if k != "machine"}, indent=2))
    return out


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
