"""In-process decision cost: featurise a 2 KB prompt and choose among K models, beside Vowpal
Wabbit's contextual bandit on the same prompts in the same run (benchmarks/vw.py; "missing"
when the ``bench`` extra is not installed). The two alternate in blocks of 100 decisions so
that a busy machine slows both alike.

Each block's first decision follows the other system's 100 and pays for the caches it evicted:
that is exactly 1 % of the decisions, so it *is* the p99 (issue 19, third session; VW shows the
same). Printed as measured, and beside it, labelled, the p99 of the other 99 % ("warm p99"):
what a decision costs when the process decided just before, as a busy server does. Also
counted: the garbage collections that ran inside our timed decisions (``gc.callbacks``), after
``startup.settle_gc`` as the service runs it.

``BR_BENCH_PREDICT=numpy python -m benchmarks decision``: the same with the numpy prediction
(``posterior.NATIVE`` off: what main ran before issue 19's fifth session, and what an install
without a compiler runs), saved as ``decision_numpy_predict.json``; run it alternately with
the default to compare the two on a shared machine."""

from __future__ import annotations

import gc
import os
import time

import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks import vw as vw_ref
from benchmarks.common import machine, pct, prompts, save
from bandit_router.routing.catalog import ModelSpec
from bandit_router.features import DEFAULT_SPEC, FeatureSpec, featurizer_for
from bandit_router.policy import PolicySpec, Posterior, Prior, SufficientStats, posterior
from bandit_router.routing import RouteRequest, Router
from bandit_router.startup import settle_gc

KS = (2, 5, 10, 20, 50)


def _router(k: int, spec: FeatureSpec, rng: np.random.Generator) -> Router:
    return router_for(featurizer_for(spec), k, rng)


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
    policy = PolicySpec().policy()  # the service's default policy
    return Router(fz, policy, Posterior.fit(stats, Prior()), models,
                  seed=0)


def _timed(decide, args: list, block: int, out: list) -> None:
    """Append ``block`` more timings of ``decide`` over ``args``, round robin."""
    for i in range(len(out), len(out) + block):
        t0 = time.perf_counter()
        decide(args[i % len(args)])
        out.append(time.perf_counter() - t0)


class GCCount:
    """Garbage collections (any generation) that start while ``on``: ``gc.callbacks``."""

    def __init__(self) -> None:
        self.on = False
        self.collections = 0

    def __call__(self, phase: str, info: dict) -> None:
        if self.on and phase == "start":
            self.collections += 1

    def __enter__(self) -> "GCCount":
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc) -> None:
        gc.callbacks.remove(self)


def warm_pct(times: list, block: int) -> dict:
    """Percentiles (µs) without the first decision of each block of ``block``."""
    t = np.asarray(times)
    keep = np.arange(len(t)) % block != 0
    return pct(t[keep].tolist(), 1e6)


def run(n: int = 3000, block: int = 100) -> dict:
    from importlib.util import find_spec

    threadpool_limits(1)
    forced = os.environ.get("BR_BENCH_PREDICT") == "numpy"
    if forced:
        posterior.NATIVE = False
    predict = "c" if posterior.NATIVE else "numpy"
    spec = DEFAULT_SPEC
    rng = np.random.default_rng(0)
    texts = prompts(256, seed=2)
    fz = featurizer_for(spec)
    for p in texts[:50]:
        fz.transform(p)
    t_feat = []
    for i in range(n):
        t0 = time.perf_counter()
        fz.transform(texts[i % len(texts)])
        t_feat.append(time.perf_counter() - t0)
    vw_version = vw_ref.available()
    out = {"benchmark": "decision", "machine": machine(), "feature_dim": spec.dim,
           "prompt_chars": len(texts[0]), "featurize_us": pct(t_feat, 1e6),
           "featurizer_scan": "c" if find_spec("bandit_router.features._scan") else "numpy",
           "prediction": predict,
           "vowpalwabbit": vw_version or "missing", "vowpalwabbit_args": vw_ref.ARGS,
           "vowpalwabbit_with_word_pairs_args": vw_ref.PAIRS,
           "by_k": {}, "vowpalwabbit_by_k": {}}
    print(f"machine speed reference (sum(range(1000))): {out['machine']['speed_reference_us']} µs")
    print(f"featurise 2 KB prompt ({out['featurizer_scan']} scan): {out['featurize_us']}; "
          f"prediction: {predict}")
    print(f"Vowpal Wabbit ({vw_ref.ARGS}; with word pairs: --ngram s2): "
          + (vw_version if vw_version else "missing (pip install 'bandit-router[bench]')"))
    train = prompts(400, seed=1)
    for k in KS:
        router = _router(k, spec, rng)
        reqs = [RouteRequest(prompt=p) for p in texts]
        vw = vw_ref.VWDecider(k, train, np.random.default_rng(k)) if vw_version else None
        pairs = (vw_ref.VWDecider(k, train, np.random.default_rng(k), vw_ref.PAIRS)
                 if vw_version else None)
        settle_gc()  # as `bandit-router serve` does once it has started
        for r, p in zip(reqs[:100], texts):
            router.decide(r)
            if vw:
                vw.decide(p)
        times: list = []
        vw_times: list = []
        pair_times: list = []
        with GCCount() as gcs:
            while len(times) < n:
                gcs.on = True
                _timed(router.decide, reqs, block, times)
                gcs.on = False
                if vw:
                    _timed(vw.decide, texts, block, vw_times)
                    _timed(pairs.decide, texts, block, pair_times)
        gc.unfreeze()
        res = pct(times, 1e6)
        res["decisions_per_s_one_core"] = round(len(times) / sum(times))
        res["warm"] = warm_pct(times, block)
        res["gc_collections_inside_decisions"] = gcs.collections
        out["by_k"][str(k)] = res
        line = (f"K={k:3d} decide incl. featurising (µs): p50 {res['p50']:8.1f}  "
                f"p99 {res['p99']:8.1f} (warm p99 {res['warm']['p99']:8.1f})  "
                f"{res['decisions_per_s_one_core']} decisions/s, {gcs.collections} GCs")
        if vw:
            ref = pct(vw_times, 1e6)
            ref["decisions_per_s_one_core"] = round(len(vw_times) / sum(vw_times))
            ref["warm"] = warm_pct(vw_times, block)
            ref["p99_ratio_ours_to_vw"] = round(res["p99"] / ref["p99"], 2)
            ref["p50_ratio_ours_to_vw"] = round(res["p50"] / ref["p50"], 2)
            ref["warm_p99_ratio_ours_to_vw"] = round(res["warm"]["p99"] / ref["warm"]["p99"], 2)
            ref["with_word_pairs"] = pct(pair_times, 1e6)
            out["vowpalwabbit_by_k"][str(k)] = ref
            vw.close()
            pairs.close()
            line += (f"  | VW p50 {ref['p50']:8.1f}  p99 {ref['p99']:8.1f} (warm p99 "
                     f"{ref['warm']['p99']:8.1f})  → ours/VW: p99 "
                     f"{ref['p99_ratio_ours_to_vw']:.2f}, p50 {ref['p50_ratio_ours_to_vw']:.2f}"
                     f", warm p99 {ref['warm_p99_ratio_ours_to_vw']:.2f}"
                     f"  | VW with word pairs p50 {ref['with_word_pairs']['p50']:8.1f}  p99 "
                     f"{ref['with_word_pairs']['p99']:8.1f}")
        else:
            line += "  | VW missing"
        print(line)
    ks = np.array([int(k) for k in out["by_k"]])
    p50 = np.array([v["p50"] for v in out["by_k"].values()])
    slope, intercept = np.polyfit(ks, p50, 1)
    resid = p50 - (intercept + slope * ks)
    out["linear_fit_p50_us"] = {"intercept": round(float(intercept), 1),
                                "per_model": round(float(slope), 2),
                                "max_abs_residual": round(float(np.abs(resid).max()), 1)}
    print(f"p50 ≈ {intercept:.0f} µs + {slope:.1f} µs × K (largest residual "
          f"{np.abs(resid).max():.0f} µs)")
    save("decision_numpy_predict" if forced else "decision", out)
    return out
