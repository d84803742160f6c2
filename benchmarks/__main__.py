"""``python -m benchmarks [all|decision|http|refit|replicas|proxy] [--quick] [--lag]``"""

from __future__ import annotations

import argparse
import os
import time

# One BLAS thread, as the service pins itself: set before numpy is imported anywhere.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


BENCHMARKS = ("decision", "http", "refit", "replicas", "proxy")


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    # No ``choices=`` here: argparse checks a list default against it and refuses a bare run.
    p.add_argument("which", nargs="*", default=[],
                   help="all (default), or any of: " + ", ".join(BENCHMARKS))
    p.add_argument("--quick", action="store_true",
                   help="smaller sizes and shorter phases (a smoke test, not a measurement; "
                        "results go to benchmarks/results/quick/)")
    p.add_argument("--rate", type=float, default=1500.0, help="HTTP offered rate, requests/s")
    p.add_argument("--seconds", type=float, default=60.0,
                   help="HTTP phase length (long enough to include two refits)")
    p.add_argument("--lag", action="store_true",
                   help="HTTP: also each worker's event-loop lag, GC pauses and waits for a CPU, "
                        "second by second, beside the open-loop phases (benchmarks/lagmon)")
    a = p.parse_args()
    unknown = sorted(set(a.which) - {"all", *BENCHMARKS})
    if unknown:
        p.error(f"unknown benchmark(s): {', '.join(unknown)}; choose from all, "
                + ", ".join(BENCHMARKS))
    which = list(BENCHMARKS) if not a.which or "all" in a.which else a.which
    from benchmarks import common
    from benchmarks.common import machine, uptime

    if a.quick:  # a smoke test must not overwrite the measurements
        common.RESULTS = common.RESULTS / "quick"

    print(f"machine: {machine()}\n{uptime()}")
    for name in which:
        t0 = time.perf_counter()
        print(f"\n== {name} ==")
        if name == "decision":
            from benchmarks import decision

            decision.run(500 if a.quick else 5000)
        elif name == "http":
            from benchmarks import http

            http.run(rate=a.rate, seconds=3 if a.quick else a.seconds, lag=a.lag)
        elif name == "refit":
            from benchmarks import refit

            refit.run(*((50_000, 5_000) if a.quick else (1_000_000, 10_000)))
        elif name == "replicas":
            from benchmarks import replicas

            replicas.run(seconds=3 if a.quick else 10.0)
        elif name == "proxy":
            from benchmarks import proxy

            proxy.run(**(dict(rounds=1, requests=50, seconds=2) if a.quick else {}))
        print(f"({name}: {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
