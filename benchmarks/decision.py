"""In-process decision cost: featurise a 2 KB prompt and choose among K models."""

from __future__ import annotations

import gc
import time

import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks.common import machine, pct, prompts, save
from bandit_router.routing.catalog import ModelSpec
from bandit_router.features import FeatureSpec, Featurizer
from bandit_router.policy import PolicySpec, Posterior, Prior, SufficientStats
from bandit_router.routing import RouteRequest, Router

KS = (2, 5, 10, 20, 50)


def _router(k: int, spec: FeatureSpec, rng: np.random.Generator) -> Router:
    return router_for(Featurizer(spec), k, rng)


def router_for(fz, k: int, rng: np.random.Generator) -> Router:
    """A router over ``k`` models whose posteriors saw realistic traffic, featurised by ``fz``."""
    arms = [f"model-{i:02d}" for i in range(k)]
    stats = SufficientStats.empty(arms, fz.spec.dim)
    X = fz.transform_many(prompts(400, seed=1))  # realistic statistics: 400 rows per arm
    for a in range(k):
        r = rng.random(len(X))
        stats.update(np.full(len(X), a), X, r)
    models = [ModelSpec(id=m, input_price_per_mtok=0.1 * (i + 1),
                        output_price_per_mtok=0.4 * (i + 1), context_window=128_000)
              for i, m in enumerate(arms)]
    policy = PolicySpec(kind="thompson", propensity_floor=0.01).policy()
    return Router(fz, policy, Posterior.fit(stats, Prior()), models,
                  seed=0)


def run(n: int = 3000) -> dict:
    threadpool_limits(1)
    spec = FeatureSpec()
    rng = np.random.default_rng(0)
    texts = prompts(256, seed=2)
    fz = Featurizer(spec)
    for p in texts[:50]:
        fz.transform(p)
    t_feat = []
    for i in range(n):
        t0 = time.perf_counter()
        fz.transform(texts[i % len(texts)])
        t_feat.append(time.perf_counter() - t0)
    out = {"benchmark": "decision", "machine": machine(), "feature_dim": spec.dim,
           "prompt_chars": len(texts[0]), "featurize_us": pct(t_feat, 1e6), "by_k": {}}
    print(f"machine speed reference (sum(range(1000))): {out['machine']['speed_reference_us']} µs")
    print(f"featurise 2 KB prompt: {out['featurize_us']}")
    for k in KS:
        router = _router(k, spec, rng)
        reqs = [RouteRequest(prompt=p) for p in texts]
        gc.collect()
        gc.freeze()  # as `bandit-router serve` does once it has started
        for r in reqs[:100]:
            router.decide(r)
        times = []
        for i in range(n):
            t0 = time.perf_counter()
            router.decide(reqs[i % len(reqs)])
            times.append(time.perf_counter() - t0)
        res = pct(times, 1e6)
        res["decisions_per_s_one_core"] = round(n / sum(times))
        out["by_k"][str(k)] = res
        print(f"K={k:3d} decide incl. featurising (µs): p50 {res['p50']:8.1f}  "
              f"p99 {res['p99']:8.1f}  {res['decisions_per_s_one_core']} decisions/s")
    ks = np.array([int(k) for k in out["by_k"]])
    p50 = np.array([v["p50"] for v in out["by_k"].values()])
    slope, intercept = np.polyfit(ks, p50, 1)
    resid = p50 - (intercept + slope * ks)
    out["linear_fit_p50_us"] = {"intercept": round(float(intercept), 1),
                                "per_model": round(float(slope), 2),
                                "max_abs_residual": round(float(np.abs(resid).max()), 1)}
    print(f"p50 ≈ {intercept:.0f} µs + {slope:.1f} µs × K (largest residual "
          f"{np.abs(resid).max():.0f} µs)")
    save("decision", out)
    return out
