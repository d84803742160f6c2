"""What the decision's tail is made of: each decision timed with the process's involuntary
context switches and minor page faults around it (``getrusage``), so that the percentiles of
the decisions that were neither preempted nor faulted can be told from the scheduler's.

    python -m benchmarks.decision_tail [K] [N]        # defaults: K = 10, N = 5000

The decision benchmark's router and prompts (``decision_id`` given, as the service gives it).
"""

from __future__ import annotations

import gc
import resource
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks.common import machine, prompts
from benchmarks.decision import router_for
from bandit_router.features import DEFAULT_SPEC, featurizer_for
from bandit_router.routing import RouteRequest


def run(k: int = 10, n: int = 5000) -> dict:
    threadpool_limits(1)
    router = router_for(featurizer_for(DEFAULT_SPEC), k, np.random.default_rng(0))
    reqs = [RouteRequest(prompt=p) for p in prompts(256, seed=2)]
    for r in reqs:
        router.decide(r, decision_id="x")
    gc.collect()
    gc.freeze()
    t, faults, switches, explored = (np.zeros(n), np.zeros(n, int), np.zeros(n, int),
                                     np.zeros(n, bool))
    for i in range(n):
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        d = router.decide(reqs[i % len(reqs)], decision_id="x")
        t1 = time.perf_counter()
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        t[i] = (t1 - t0) * 1e6
        faults[i] = r1.ru_minflt - r0.ru_minflt
        switches[i] = r1.ru_nivcsw - r0.ru_nivcsw
        explored[i] = d.explanation["explored"]
    gc.unfreeze()
    clean = (faults == 0) & (switches == 0)
    out = {"machine": machine(), "k": k, "all_p50_p90_p99": np.percentile(t, [50, 90, 99]).round(1).tolist(),
           "share_preempted": round(float((switches > 0).mean()), 4),
           "share_faulted": round(float((faults > 0).mean()), 4),
           "clean_p50_p90_p99": np.percentile(t[clean], [50, 90, 99]).round(1).tolist(),
           "clean_explored_p50": round(float(np.median(t[clean & explored])), 1)
           if (clean & explored).any() else None,
           "clean_greedy_p50": round(float(np.median(t[clean & ~explored])), 1)}
    for key, value in out.items():
        print(f"{key}: {value}")
    return out


if __name__ == "__main__":
    run(*(int(a) for a in sys.argv[1:3]))
