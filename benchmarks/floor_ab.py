"""Decision time of the exploration floor's two rules, in one process: the per-model floor
(the rule before issue #17) against the default (a total mass kept off dominated models), on
benchmarks/decision.py's router and prompts, alternating blocks of 100 decisions so that a
busy machine slows both alike.

    python -m benchmarks.floor_ab [K] [N]        # defaults: K = 10, N = 3000 per rule
"""

from __future__ import annotations

import gc
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks.common import pct, prompts
from benchmarks.decision import router_for
from bandit_router.features import DEFAULT_SPEC, featurizer_for
from bandit_router.policy import PolicySpec
from bandit_router.routing import RouteRequest

RULES = {"per-model floor 0.01 (before)": PolicySpec(propensity_floor=0.01, floor_mass=0.0,
                                                     floor_prune=0.0),
         "default floor": PolicySpec()}


def run(k: int = 10, n: int = 3000, block: int = 100) -> dict:
    threadpool_limits(1)
    fz = featurizer_for(DEFAULT_SPEC)
    routers = {}
    for name, spec in RULES.items():
        routers[name] = router_for(fz, k, np.random.default_rng(0))
        routers[name].policy = spec.policy()
    reqs = [RouteRequest(prompt=p) for p in prompts(256, seed=2)]
    for router in routers.values():
        for r in reqs[:100]:
            router.decide(r)
    times: dict[str, list] = {name: [] for name in routers}
    gc.collect()
    gc.freeze()
    i = 0
    while min(len(t) for t in times.values()) < n:
        for name, router in routers.items():
            for _ in range(block):
                t0 = time.perf_counter()
                router.decide(reqs[i % len(reqs)])
                times[name].append(time.perf_counter() - t0)
                i += 1
    gc.unfreeze()
    out = {name: pct(t, 1e6) for name, t in times.items()}
    for name, res in out.items():
        print(f"K={k} {name:32s} p50 {res['p50']:8.1f} µs  p99 {res['p99']:9.1f} µs")
    return out


if __name__ == "__main__":
    run(*(int(a) for a in sys.argv[1:3]))
