"""Where a worker's CPU goes under load: ``bandit-router serve`` (one worker by default) on a
throwaway Postgres database, the load generator at saturation on ``/v1/route`` and then on
``/v1/feedback`` (the decision ids just routed), and ``py-spy record`` on the worker during
each phase (samples only of the thread holding the GIL: CPU, not waiting). Prints the hottest frames (own and cumulative share of samples) and writes the
collapsed stacks to ``benchmarks/results/profile-http-<endpoint>.txt``.

    python -m benchmarks.profile_http [--seconds 20] [--workers 1] [--connections 16]
    python -m benchmarks.profile_http --workers 2 --connections 32 --refitter --name main
                    # as the HTTP benchmark serves: its separate refit process beside

Each sample names its thread (``thread (…)`` as the stack's first frame), so that the event
loop, the writers and the sync/scheduler threads can be told apart.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from collections import Counter
from contextlib import nullcontext
from pathlib import Path

from benchmarks.common import (RESULTS, app_key, machine, models_toml, pg_database, refitter,
                               server)
from benchmarks.http import cpu_seconds, run_load, server_pids


def top(collapsed: Path, n: int = 25) -> str:
    """The frames with the most samples, own and cumulative, as text."""
    own: Counter = Counter()
    total: Counter = Counter()
    samples = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        c = int(count)
        samples += c
        frames = stack.split(";")
        own[frames[-1]] += c
        for f in set(frames):
            total[f] += c
    rows = [f"{samples} samples"]
    rows += [f"own {100 * c / samples:5.1f} %  {f}" for f, c in own.most_common(n)]
    rows += [f"cum {100 * c / samples:5.1f} %  {f}" for f, c in total.most_common(2 * n)]
    return "\n".join(rows)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.profile_http", description=__doc__)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--refitter", action="store_true",
                   help="run the HTTP benchmark's separate refit process (every 30 s, nice 19)")
    p.add_argument("--name", default="", help="suffix of the collapsed stacks' file names")
    args = p.parse_args()
    print(machine())
    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, pg_database() as url:
        models = models_toml(Path(tmp) / "models.toml", args.k)
        env = {"BANDIT_ROUTER_REFIT_IN_PROCESS": "false"}
        with server(url, models, workers=args.workers, extra_env=env) as base, \
                (refitter(url) if args.refitter else nullcontext([])) as refits:
            key = app_key(base)
            port = int(base.rsplit(":", 1)[1])
            pids = server_pids(port)
            run_load(base, key, [{"endpoint": "route", "mode": "saturation",
                                  "connections": 8, "seconds": 3}])  # warm-up
            # The busiest process of the warm-up: a worker (with several, the master's other
            # children include multiprocessing's resource tracker, which never runs Python).
            workers = sorted((pid for pid in pids if pid != min(pids)),
                             key=lambda pid: cpu_seconds([pid]), reverse=True) or pids
            ids: list[str] = []
            for endpoint in ("route", "feedback"):
                out = RESULTS / f"profile-http-{endpoint}{'-' + args.name if args.name else ''}.txt"
                spy = subprocess.Popen(
                    ["py-spy", "record", "--pid", str(workers[0]), "--format", "raw",
                     "--rate", "200", "--duration", str(int(args.seconds)), "--output", str(out),
                     "--nonblocking", "--gil", "--threads"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                cpu0 = cpu_seconds(pids)
                res = run_load(base, key, [{"endpoint": endpoint, "mode": "saturation",
                                            "connections": args.connections,
                                            "seconds": args.seconds}], ids)
                cpu = cpu_seconds(pids) - cpu0
                spy.wait(60)
                ids = res["unused_decision_ids"]
                ph = res["phases"][0]
                print(f"== {endpoint}: {ph['throughput_rps']} rps, errors {ph['errors']}, "
                      f"server CPU {1e3 * cpu / max(ph['requests'], 1):.3f} ms/request")
                print(top(out))
            if args.refitter:
                print(f"refits (s): {refits}")


if __name__ == "__main__":
    main()
