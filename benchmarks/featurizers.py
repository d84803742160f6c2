"""Featuriser cost: hashed n-grams (the default) against WordLlama embeddings (optional).

``python -m benchmarks.featurizers [--n 3000]`` times, on the decision benchmark's 2 KB
prompts, featurising alone and featurising + one Thompson decision at K = 10 (the router of
``python -m benchmarks decision``), for each featuriser in turn, round-robin in blocks so
that a busy machine slows both alike. Prints p50/p99 in µs and writes
benchmarks/results/featurizers.json. Needs the ``semantic`` extra for the second featuriser.
"""

from __future__ import annotations

import argparse
import gc
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from bandit_router.features import FeatureSpec, Featurizer  # noqa: E402
from bandit_router.routing import RouteRequest, Router  # noqa: E402
from benchmarks.common import machine, pct, prompts, save  # noqa: E402
from benchmarks.decision import router_for  # noqa: E402

K = 10


def _router(fz: Featurizer) -> Router:
    return router_for(fz, K, np.random.default_rng(0))


def run(n: int = 3000, block: int = 100) -> dict:
    from bandit_router.features.semantic import WordLlamaFeaturizer

    threadpool_limits(1)
    texts = prompts(256, seed=2)
    fzs = {"hashed": Featurizer(FeatureSpec()), "wordllama": WordLlamaFeaturizer(FeatureSpec())}
    routers = {k: _router(f) for k, f in fzs.items()}
    reqs = [RouteRequest(prompt=p) for p in texts]
    feat = {k: [] for k in fzs}
    decide = {k: [] for k in fzs}
    gc.collect()
    gc.freeze()
    for name in fzs:  # warm up
        for r in reqs[:50]:
            routers[name].decide(r)
    for start in range(0, n, block):
        for name, fz in fzs.items():
            for i in range(start, start + block):
                t0 = time.perf_counter()
                fz.transform(texts[i % len(texts)])
                t1 = time.perf_counter()
                routers[name].decide(reqs[i % len(reqs)])
                t2 = time.perf_counter()
                feat[name].append(t1 - t0)
                decide[name].append(t2 - t1)
    out = {"benchmark": "featurizers", "machine": machine(), "prompt_chars": len(texts[0]),
           "k": K, "by_featurizer": {}}
    print(f"machine speed reference: {out['machine']['speed_reference_us']} µs; "
          f"{len(texts[0])}-character prompts, K = {K}")
    for name in fzs:
        res = {"featurize_us": pct(feat[name], 1e6), "decide_us": pct(decide[name], 1e6)}
        out["by_featurizer"][name] = res
        print(f"{name:>10}: featurise p50 {res['featurize_us']['p50']:7.1f} p99 "
              f"{res['featurize_us']['p99']:7.1f} µs; decide incl. featurising p50 "
              f"{res['decide_us']['p50']:7.1f} p99 {res['decide_us']['p99']:7.1f} µs")
    save("featurizers", out)
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(prog="python -m benchmarks.featurizers", description=__doc__)
    ap.add_argument("--n", type=int, default=3000)
    run(ap.parse_args().n)
