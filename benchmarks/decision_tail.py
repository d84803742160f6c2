"""What the decision's tail is made of: each decision timed with the process's involuntary
context switches and minor page faults around it (``getrusage``), so that the percentiles of
the decisions that were neither preempted nor faulted can be told from the scheduler's; and
the decisions' position in their block, as ``python -m benchmarks decision`` times them.

    python -m benchmarks.decision_tail [K] [N] [--block B] [--repeat R] [--no-vw]
    # defaults: K = 10, N = 5000, B = 100, R = 1

The decision benchmark's router and prompts (``decision_id`` given, as the service gives it),
after ``startup.settle_gc`` as the service runs. Decisions are timed in blocks of ``B``; between
two blocks Vowpal Wabbit decides ``B`` times (as in the decision benchmark; skipped with
``--no-vw`` or when it is not installed), which evicts our data from the caches. So the first
decision of each block is a cold one: 1/B of the decisions (1 % at B = 100, i.e. the p99
itself). Printed: the percentiles of every decision, of the clean ones (not preempted, no page
fault), of the blocks' first decisions and of the others, and the garbage collections inside
our decisions; ``--repeat R`` runs it all R times in one process to show the spread.
"""

from __future__ import annotations

import argparse
import gc
import resource
import time

import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks import vw as vw_ref
from benchmarks.common import machine, prompts
from benchmarks.decision import GCCount, router_for
from bandit_router.features import DEFAULT_SPEC, featurizer_for
from bandit_router.routing import RouteRequest
from bandit_router.startup import settle_gc


def _p(t: np.ndarray) -> list[float]:
    return np.percentile(t, [50, 90, 99]).round(1).tolist() if len(t) else []


def run(k: int = 10, n: int = 5000, block: int = 100, repeat: int = 1,
        use_vw: bool = True) -> list[dict]:
    threadpool_limits(1)
    router = router_for(featurizer_for(DEFAULT_SPEC), k, np.random.default_rng(0))
    texts = prompts(256, seed=2)
    reqs = [RouteRequest(prompt=p) for p in texts]
    vw = (vw_ref.VWDecider(k, prompts(400, seed=1), np.random.default_rng(k))
          if use_vw and vw_ref.available() else None)
    for r in reqs:
        router.decide(r, decision_id="x")
    print(f"K = {k}, {n} decisions in blocks of {block}, between blocks: "
          + ("Vowpal Wabbit's (" + vw_ref.ARGS + ")" if vw else "nothing"))
    results = []
    for rep in range(repeat):
        settle_gc()
        t, faults, switches, explored = (np.zeros(n), np.zeros(n, int), np.zeros(n, int),
                                         np.zeros(n, bool))
        with GCCount() as gcs:
            for i in range(n):
                if i % block == 0 and vw is not None:
                    for j in range(block):
                        vw.decide(texts[(i + j) % len(texts)])
                r0 = resource.getrusage(resource.RUSAGE_SELF)
                gcs.on = True
                t0 = time.perf_counter()
                d = router.decide(reqs[i % len(reqs)], decision_id="x")
                t1 = time.perf_counter()
                gcs.on = False
                r1 = resource.getrusage(resource.RUSAGE_SELF)
                t[i] = (t1 - t0) * 1e6
                faults[i] = r1.ru_minflt - r0.ru_minflt
                switches[i] = r1.ru_nivcsw - r0.ru_nivcsw
                explored[i] = d.explanation["explored"]
        gc.unfreeze()
        clean = (faults == 0) & (switches == 0)
        first = np.arange(n) % block == 0
        out = {"machine": machine(), "k": k, "block": block, "repeat": rep,
               "all_p50_p90_p99": _p(t),
               "share_preempted": round(float((switches > 0).mean()), 4),
               "share_faulted": round(float((faults > 0).mean()), 4),
               "clean_p50_p90_p99": _p(t[clean]),
               "block_first_p50_p90_p99": _p(t[first]),
               "without_block_first_p50_p90_p99": _p(t[~first]),
               "clean_without_block_first_p50_p90_p99": _p(t[clean & ~first]),
               "gc_collections_inside_decisions": gcs.collections,
               "clean_explored_p50": round(float(np.median(t[clean & explored])), 1)
               if (clean & explored).any() else None,
               "clean_greedy_p50": round(float(np.median(t[clean & ~explored])), 1)}
        for key, value in out.items():
            if key != "machine":
                print(f"{key}: {value}")
        print(f"speed reference: {out['machine']['speed_reference_us']} µs, load "
              f"{out['machine']['load_avg_1_5_15']}\n")
        results.append(out)
    if vw is not None:
        vw.close()
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("k", type=int, nargs="?", default=10)
    p.add_argument("n", type=int, nargs="?", default=5000)
    p.add_argument("--block", type=int, default=100)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--no-vw", action="store_true", help="nothing between the blocks")
    a = p.parse_args()
    run(a.k, a.n, a.block, a.repeat, not a.no_vw)


if __name__ == "__main__":
    main()
