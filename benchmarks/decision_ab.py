"""Decision cost of this tree against another checkout's, in one process, alternating blocks.

    python -m benchmarks.decision_ab BASE_SRC [--ks 2,5,10,20,50] [--n 3000] [--block 100]

``BASE_SRC`` is the ``src/`` directory of another checkout (e.g. a worktree of main). Its
``bandit_router`` package is copied to a temporary directory as ``bandit_router_base`` (imports
rewritten; its compiled scan is used when it was built there) and both routers are built the
way ``benchmarks/decision.py`` builds one (same posterior statistics, same prompts, seed 0).
The two decide the same requests in alternating blocks of ``block`` decisions, so that a busy
machine slows both alike, and every decision's model, propensity, fallbacks, features and
explanation are compared: the run fails if any differ (the same generator state must give
the same decision). Also
counts the young-generation garbage collections per 1,000 decisions of each.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import importlib
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks.common import machine, pct, prompts
from bandit_router.startup import settle_gc

BASE = "bandit_router_base"


def _import_base(src: Path) -> str:
    """Copy ``src/bandit_router`` to a temporary package ``bandit_router_base``."""
    tmp = Path(tempfile.mkdtemp(prefix="br-base-"))
    dst = tmp / BASE
    shutil.copytree(src / "bandit_router", dst,
                    ignore=shutil.ignore_patterns("__pycache__", "static"))
    pattern = re.compile(r"\bbandit_router(?=[.\s])")
    for f in dst.rglob("*.py"):
        f.write_text(pattern.sub(BASE, f.read_text()))
    sys.path.insert(0, str(tmp))
    return BASE


def _router(pkg: str, k: int):
    """benchmarks.decision.router_for, with the classes of package ``pkg``."""
    features = importlib.import_module(f"{pkg}.features")
    policy = importlib.import_module(f"{pkg}.policy")
    catalog = importlib.import_module(f"{pkg}.routing.catalog")
    routing = importlib.import_module(f"{pkg}.routing")
    fz = features.featurizer_for(features.DEFAULT_SPEC)
    rng = np.random.default_rng(k)
    arms = [f"model-{i:02d}" for i in range(k)]
    stats = policy.SufficientStats.empty(arms, fz.spec.dim)
    X = fz.transform_many(prompts(400, seed=1))
    for a in range(k):
        stats.update(np.full(len(X), a), X, rng.random(len(X)))
    models = [catalog.ModelSpec(id=m, input_price_per_mtok=0.1 * (i + 1),
                                output_price_per_mtok=0.4 * (i + 1), context_window=128_000)
              for i, m in enumerate(arms)]
    router = routing.Router(fz, policy.PolicySpec().policy(),
                            policy.Posterior.fit(stats, policy.Prior()), models, seed=0)
    return router, routing.RouteRequest


def run(base_src: Path, ks=(2, 5, 10, 20, 50), n: int = 3000, block: int = 100) -> dict:
    threadpool_limits(1)
    base = _import_base(base_src)
    texts = prompts(256, seed=2)
    out = {"machine": machine(), "by_k": {}}
    print(f"speed reference {out['machine']['speed_reference_us']} µs, "
          f"load {out['machine']['load_avg_1_5_15']}")
    for k in ks:
        routers = {}
        for name, pkg in (("base", base), ("this", "bandit_router")):
            router, Req = _router(pkg, k)
            routers[name] = (router, [Req(prompt=p) for p in texts])
        for router, reqs in routers.values():  # warm the word caches and the views
            for r in reqs[:100]:
                router.decide(r, decision_id="x")
        times = {name: [] for name in routers}
        gcs = {name: 0 for name in routers}
        picks = {name: hashlib.sha256() for name in routers}
        settle_gc()  # as the service does once started
        i = 0
        while min(len(t) for t in times.values()) < n:
            for name, (router, reqs) in routers.items():
                t = times[name]
                before = gc.get_stats()[0]["collections"]
                for j in range(i, i + block):
                    t0 = time.perf_counter()
                    d = router.decide(reqs[j % len(reqs)], decision_id="x")
                    t.append(time.perf_counter() - t0)
                    digest = picks[name]  # nothing kept: the GC counts stay the decisions'
                    digest.update(repr((d.model, d.propensity, d.fallbacks, d.candidates,
                                        d.estimated_cost_usd, d.explanation)).encode())
                    digest.update(d.features.tobytes())
                gcs[name] += gc.get_stats()[0]["collections"] - before
            i += block
        gc.unfreeze()
        same = picks["base"].hexdigest() == picks["this"].hexdigest()
        res = {name: pct(t, 1e6) for name, t in times.items()}
        for name in res:
            res[name]["gen0_collections_per_1000"] = round(1000 * gcs[name] / len(times[name]), 2)
        res["identical_choices"] = same
        out["by_k"][str(k)] = res
        b, t = res["base"], res["this"]
        print(f"K={k:3d} base p50 {b['p50']:7.1f} p90 {b['p90']:7.1f} p99 {b['p99']:8.1f} "
              f"gc0/1000 {b['gen0_collections_per_1000']:5.2f} | this p50 {t['p50']:7.1f} "
              f"p90 {t['p90']:7.1f} p99 {t['p99']:8.1f} gc0/1000 "
              f"{t['gen0_collections_per_1000']:5.2f} | this/base p50 {t['p50'] / b['p50']:.2f}"
              f" p99 {t['p99'] / b['p99']:.2f} | identical choices: {same}")
        if not same:
            raise SystemExit(f"K={k}: the two trees chose differently for the same requests")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("base_src", type=Path, help="src/ directory of the checkout to compare with")
    p.add_argument("--ks", default="2,5,10,20,50")
    p.add_argument("--n", type=int, default=3000)
    p.add_argument("--block", type=int, default=100)
    a = p.parse_args()
    run(a.base_src, tuple(int(k) for k in a.ks.split(",")), a.n, a.block)


if __name__ == "__main__":
    main()
