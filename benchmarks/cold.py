"""What a decision costs when the process has been doing something else for a while.

``python -m benchmarks.cold [--gap-ms 15] [--n 150]``

The decision benchmark's p99 is its cold decisions: the first of each block, after the other
system's blocks (benchmarks/decision.py). This asks what "cold" is made of on this machine.
Each probe runs right after ``--gap-ms`` of *busy* waiting in Python (no sleep, no memory
touched: the process keeps its CPU) and again immediately after that ("warm"), for:

* ``numpy_matvec``: one (10 × 153) @ (153,) product, a stand-in for any small numpy call;
* ``python_sum``: ``sum(range(200))``, pure interpreter work;
* ``featurise``: a 2 KB prompt to its feature vector;
* ``choose``: the default policy's choice among K = 10 models from that vector;
* ``decide``: the whole ``Router.decide`` (featurise, choose, explanation).

Then, where the C prediction (policy/_predict.c) was built, ``predict`` (``ArmView.predict``
alone), ``choose`` and ``decide`` once more for each path, C and numpy
(``posterior.NATIVE`` off, what main ran before issue 19's fifth session), the two paths
alternating probe by probe (``_probe_ab``) so that a busy machine slows both alike; and where
Thompson's decision in one C call (policy/_argmax.c, ``choose``) was built, ``choose`` and
``decide`` with it and with the numpy path it replaces (``thompson.NATIVE`` off), alternating
the same way (issue 19, sixth session).

If the cold numbers were the other system's footprint evicting ours from the caches, a busy
wait that touches nothing would leave the next call warm. Run as ``chrt -f 10 python -m
benchmarks.cold`` (real-time priority, no preemption inside the process) to rule out the
scheduler as well. Results: benchmarks/results/cold.json; benchmarks/README.md, "What a cold
decision is made of".
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from benchmarks.common import machine, prompts, save  # noqa: E402
from benchmarks.decision import router_for  # noqa: E402
from bandit_router.policy import posterior, thompson  # noqa: E402
from bandit_router.features import DEFAULT_SPEC, featurizer_for  # noqa: E402
from bandit_router.routing import RouteRequest  # noqa: E402
from bandit_router.startup import settle_gc  # noqa: E402


def _busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def _cold_then_warm(call, i: int, gap: float) -> tuple[float, float]:
    """Seconds of ``call(i)`` right after a busy gap, and of ``call(i + 1)`` right after it."""
    _busy(gap)
    t0 = time.perf_counter()
    call(i)
    t1 = time.perf_counter()
    call(i + 1)
    return t1 - t0, time.perf_counter() - t1


def _summary(cold: list, warm: list) -> dict:
    """Median and p90 (µs) of the cold and the warm calls."""
    c, w = np.array(cold) * 1e6, np.array(warm) * 1e6
    return {"cold_p50": round(float(np.median(c)), 1),
            "cold_p90": round(float(np.percentile(c, 90)), 1),
            "warm_p50": round(float(np.median(w)), 1),
            "warm_p90": round(float(np.percentile(w, 90)), 1)}


def _probe(call, n: int, gap: float) -> dict:
    """Median and p90 (µs) of ``call(i)`` right after a busy gap, and right after that."""
    cold, warm = zip(*(_cold_then_warm(call, i, gap) for i in range(n)))
    return _summary(cold, warm)


def _probe_ab(call, n: int, gap: float, module=posterior) -> dict:
    """:func:`_probe` of ``call`` with ``module``'s C helper and with its numpy path
    (``module.NATIVE``), alternating (which path goes first alternates too)."""
    times: dict = {"c": ([], []), "numpy": ([], [])}
    built = module.NATIVE
    try:
        for i in range(n):
            for path in (("c", "numpy") if i % 2 == 0 else ("numpy", "c")):
                module.NATIVE = path == "c"
                cold, warm = _cold_then_warm(call, i, gap)
                times[path][0].append(cold)
                times[path][1].append(warm)
    finally:
        module.NATIVE = built
    return {path: _summary(cold, warm) for path, (cold, warm) in times.items()}


def _print_ab(res: dict, name: str) -> None:
    for path in ("c", "numpy"):
        r = res[path]
        print(f"  {name:8s} {path:5s} cold {r['cold_p50']:7.1f} / {r['cold_p90']:7.1f}   "
              f"warm {r['warm_p50']:7.1f} / {r['warm_p90']:7.1f}")


def run(gap_ms: float = 15.0, n: int = 150) -> dict:
    rng = np.random.default_rng(0)
    fz = featurizer_for(DEFAULT_SPEC)
    router = router_for(fz, 10, rng)
    reqs = [RouteRequest(prompt=p) for p in prompts(300, seed=7)]
    rt = router.runtime
    line = router._lineup(rt.models, None)
    view = rt.posterior.view(line.ids)
    cost = line.cost_usd(500, 256)
    xs = [fz.transform(r.prompt) for r in reqs]
    draws = np.random.default_rng(1)
    m, v = np.random.rand(10, 153), np.random.rand(153)
    for r in reqs[:50]:
        router.decide(r)
    settle_gc()
    probes = {
        "numpy_matvec": lambda i: m @ v,
        "python_sum": lambda i: sum(range(200)),
        "featurise": lambda i: fz.transform(reqs[i % len(reqs)].prompt),
        "choose": lambda i: router.policy.choose(view, xs[i % len(xs)], draws, cost=cost,
                                                 cost_weight=10.0),
        "decide": lambda i: router.decide(reqs[i % len(reqs)]),
    }
    out = {"machine": machine(), "gap_ms": gap_ms, "n": n,
           "scheduling_policy": os.sched_getscheduler(0), "probes": {}}
    print(f"after {gap_ms:g} ms of busy waiting (µs, p50 / p90):")
    for name, call in probes.items():
        res = _probe(call, n, gap_ms / 1e3)
        out["probes"][name] = res
        print(f"  {name:13s} cold {res['cold_p50']:7.1f} / {res['cold_p90']:7.1f}   "
              f"warm {res['warm_p50']:7.1f} / {res['warm_p90']:7.1f}")
    if posterior.NATIVE:
        ab = {"predict": lambda i: view.predict(xs[i % len(xs)]),
              "choose": probes["choose"], "decide": probes["decide"]}
        out["prediction_c_vs_numpy"] = {}
        print("the C prediction against numpy's, alternating (µs, p50 / p90):")
        for name, call in ab.items():
            res = _probe_ab(call, n, gap_ms / 1e3)
            out["prediction_c_vs_numpy"][name] = res
            _print_ab(res, name)
    if thompson.NATIVE:
        out["thompson_c_vs_numpy"] = {}
        print("Thompson's decision in one C call (policy/_argmax.c choose) against numpy's "
              "(µs, p50 / p90):")
        for name in ("choose", "decide"):
            res = _probe_ab(probes[name], n, gap_ms / 1e3, thompson)
            out["thompson_c_vs_numpy"][name] = res
            _print_ab(res, name)
    save("cold", out)
    return out


if __name__ == "__main__":
    p = argparse.ArgumentParser(prog="python -m benchmarks.cold", description=__doc__.split("\n")[0])
    p.add_argument("--gap-ms", type=float, default=15.0)
    p.add_argument("--n", type=int, default=150)
    a = p.parse_args()
    run(a.gap_ms, a.n)
