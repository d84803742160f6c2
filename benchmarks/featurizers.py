"""Featuriser cost: hashed n-grams against WordLlama embeddings, at several dimensions.

``python -m benchmarks.featurizers [--n 3000] [--text DIR]`` times, on the decision
benchmark's 2 KB prompts, featurising alone and featurising + one Thompson decision at K = 10
(the router of ``python -m benchmarks decision``, whose posterior has the featuriser's
dimension), for each featuriser in turn, round-robin in blocks so that a busy machine slows
all alike. Those prompts reuse a small vocabulary, so WordLlama's word cache is warm after a
few requests. ``--text DIR`` adds the cold-cache case on real text: every prompt of the CSV
files under DIR (a ``prompt`` column, e.g. the MMLU evaluation set) featurised once, in file
order, by a featuriser built fresh, so that each new word pays the tokenizer. Prints p50/p99
in µs and writes benchmarks/results/featurizers.json.
"""

from __future__ import annotations

import argparse
import csv
import gc
import os
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from bandit_router.features import FeatureSpec, Featurizer, featurizer_for  # noqa: E402
from bandit_router.routing import RouteRequest, Router  # noqa: E402
from benchmarks.common import machine, pct, prompts, save  # noqa: E402
from benchmarks.decision import router_for  # noqa: E402

K = 10
VARIANTS = {  # name → spec; the first is the reference the others are compared with
    "hashed-256": FeatureSpec(words="hashed", n_buckets=256),
    "hashed-32": FeatureSpec(words="hashed", n_buckets=32),
    "wordllama-256": FeatureSpec(words="wordllama", n_buckets=256),
    "wordllama-128": FeatureSpec(words="wordllama", n_buckets=128),
    "wordllama-64": FeatureSpec(words="wordllama", n_buckets=64),
    "wordllama-32": FeatureSpec(words="wordllama", n_buckets=32),
}


def _router(fz: Featurizer) -> Router:
    return router_for(fz, K, np.random.default_rng(0))


def _texts(directory: Path) -> list[str]:
    out = []
    for path in sorted(directory.rglob("*.csv")):
        with path.open(newline="", encoding="utf-8") as f:
            out += [row["prompt"] for row in csv.DictReader(f)]
    return out


def run(n: int = 3000, block: int = 100, text: Path | None = None) -> dict:
    threadpool_limits(1)
    texts = prompts(256, seed=2)
    fzs = {name: featurizer_for(spec) for name, spec in VARIANTS.items()}
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
    ref = next(iter(fzs))
    for name in fzs:
        res = {"dim": fzs[name].spec.dim, "featurize_us": pct(feat[name], 1e6),
               "decide_us": pct(decide[name], 1e6)}
        res["decide_p50_vs_" + ref] = round(res["decide_us"]["p50"] /
                                            np.percentile(np.array(decide[ref]) * 1e6, 50), 3)
        out["by_featurizer"][name] = res
        print(f"{name:>14} (d = {res['dim']:3d}): featurise p50 {res['featurize_us']['p50']:7.1f}"
              f" p99 {res['featurize_us']['p99']:7.1f} µs; decide incl. featurising p50 "
              f"{res['decide_us']['p50']:7.1f} p99 {res['decide_us']['p99']:7.1f} µs")
    if text is not None:
        real = _texts(text)
        out["cold_cache"] = {"text": str(text), "prompts": len(real), "by_featurizer": {}}
        print(f"cold cache: {len(real)} prompts of {text}, each featurised once, fresh "
              "featurisers")
        for name, spec in VARIANTS.items():
            fz = featurizer_for(spec)
            ts = []
            for p in real:
                t0 = time.perf_counter()
                fz.transform(p)
                ts.append(time.perf_counter() - t0)
            res = pct(ts, 1e6)
            res["mean"] = round(float(np.mean(ts)) * 1e6, 1)
            first, rest = ts[: len(ts) // 10], ts[len(ts) // 10:]
            res["mean_first_tenth"] = round(float(np.mean(first)) * 1e6, 1)
            res["mean_rest"] = round(float(np.mean(rest)) * 1e6, 1)
            out["cold_cache"]["by_featurizer"][name] = res
            print(f"{name:>14}: p50 {res['p50']:7.1f} p99 {res['p99']:7.1f} mean "
                  f"{res['mean']:7.1f} µs (first tenth {res['mean_first_tenth']:7.1f}, rest "
                  f"{res['mean_rest']:7.1f})")
    save("featurizers", out)
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(prog="python -m benchmarks.featurizers", description=__doc__)
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--text", type=Path, default=None,
                    help="directory of CSV files with a prompt column (cold-cache case)")
    a = ap.parse_args()
    run(a.n, text=a.text)
