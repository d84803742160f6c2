"""Refit from 1,000,000 logged feedback rows (K = 10, default feature size), then an
incremental refit after 10,000 more. The rows are written straight into a throwaway
database with COPY; their feature blobs come from the real Featurizer on generated prompts."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone

import numpy as np
import psycopg

from benchmarks.common import ROOT, machine, pg_database, prompts, save, uptime
from bandit_router.features import DEFAULT_SPEC, featurizer_for
from bandit_router.store.codec import encode_features

K = 10


def _blobs(n_distinct: int = 20_000) -> list[bytes]:
    fz = featurizer_for(DEFAULT_SPEC)
    rng = np.random.default_rng(5)
    texts = prompts(n_distinct, size=2048, seed=4)
    cut = rng.integers(60, 2048, size=n_distinct)  # prompts of every length up to 2 KB
    return [encode_features(fz.transform(t[:c])) for t, c in zip(texts, cut)]


def load_rows(url: str, n: int, blobs: list[bytes], seed: int, start: datetime) -> float:
    """COPY ``n`` decisions and their feedback; returns seconds taken."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    arms = [f"model-{i:02d}" for i in range(K)]
    arm = rng.integers(0, K, size=n)
    pick = rng.integers(0, len(blobs), size=n)
    reward = np.round(rng.random(n), 3)
    ids = [str(uuid.UUID(int=(int(x) << 64) | seed)) for x in
           rng.integers(0, 2**63, size=n, dtype=np.int64)]
    times = [start + timedelta(milliseconds=float(i)) for i in range(n)]
    cands = json.dumps(arms)
    scores = json.dumps({"model-00": {"predicted_reward": 0.5}})
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
        conn.execute("SET session_replication_role = replica")  # no FK triggers on a bulk load
        with conn.cursor().copy(
                "COPY decisions (id, tenant_id, created_at, model_id, propensity, policy, "
                "policy_version, cost_weight, features, candidates, input_tokens_est, "
                "output_tokens_est, estimated_cost_usd, scores) FROM STDIN") as cp:
            for i in range(n):
                cp.write_row((ids[i], "bench", times[i], arms[arm[i]], 0.5, "thompson", 1, 0.0,
                              blobs[pick[i]], cands, 500, 256, 0.001, scores))
        with conn.cursor().copy("COPY feedback (decision_id, decision_created_at, received_at, "
                                "reward, latency_ms, charged_usd) FROM STDIN") as cp:
            for i in range(n):
                cp.write_row((ids[i], times[i], times[i], float(reward[i]), 120.0, 0.001))
        conn.execute("ANALYZE decisions")
        conn.execute("ANALYZE feedback")
    return time.perf_counter() - t0


def refit_in_child(url: str) -> dict:
    """Refit in a fresh process so that its peak RSS is the refit's own."""
    proc = subprocess.run([sys.executable, "-m", "benchmarks.refit", url], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _child(url: str) -> None:
    from threadpoolctl import threadpool_limits

    from bandit_router.config import Settings
    from bandit_router.jobs.refit import RefitConfig, refit
    from bandit_router.store.db import make_engine

    threadpool_limits(1)  # as the service does
    cfg = RefitConfig.from_settings(Settings(database_url=url), DEFAULT_SPEC)
    engine = make_engine(url)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    res = refit(engine, cfg, force=True)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": round(seconds, 3), "new_rows": res.new_rows,
                      "n_feedback": res.n_feedback, "version": res.version,
                      "peak_rss_mib": round(peak / 1024, 1),
                      "rss_before_refit_mib": round(base / 1024, 1)}))


def run(n: int = 1_000_000, n_more: int = 10_000) -> dict:
    out = {"benchmark": "refit", "machine": machine(), "uptime_before": uptime(), "k": K,
           "feature_dim": DEFAULT_SPEC.dim, "rows": n, "incremental_rows": n_more}
    blobs = _blobs()
    out["mean_nonzeros_per_row"] = round(float(np.mean([(len(b) - 8) / 8 for b in blobs])), 1)
    start = datetime.now(timezone.utc) - timedelta(days=2)
    with pg_database("br_bench_refit") as url:
        out["load_seconds"] = round(load_rows(url, n, blobs, 1, start), 1)
        print(f"loaded {n} decisions + feedback with COPY in {out['load_seconds']} s")
        out["full"] = refit_in_child(url)
        print(f"full refit of {n} rows: {out['full']}")
        load_rows(url, n_more, blobs, 2, start + timedelta(days=1))
        out["incremental"] = refit_in_child(url)
        print(f"incremental refit of {n_more} new rows: {out['incremental']}")
    out["uptime_after"] = uptime()
    save("refit", out)
    return out


if __name__ == "__main__":
    _child(sys.argv[1])
