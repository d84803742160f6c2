"""The open-loop tail and how the workers share the load, second by second.

``bandit-router serve --workers 2`` on a throwaway Postgres database with one separate
``bandit-router refit --every 30`` process, as in ``python -m benchmarks http``; the same
route phases before it (open loop at 1,500/s, then saturation from 32 connections), then
``/v1/route`` open-loop at ``--rate`` for ``--seconds``. While that last phase runs, every
server process's CPU time is read from ``/proc`` every 0.1 s. Prints the phase's latency,
the p99 of each second and, for each second, the busier worker's share of the two workers'
CPU (0.5: even; 1.0: one worker did everything).

    python -m benchmarks.balance [--rate 400] [--seconds 30] [--env NAME=VALUE ...]

``--env BANDIT_ROUTER_MAX_REQUESTS_PER_CONNECTION=0`` serves without closing keep-alive
connections (the behaviour before 2026-12-06), for an A/B in the same minutes.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.common import app_key, machine, models_toml, pg_database, refitter, save, server
from benchmarks.http import cpu_seconds, run_load, server_pids

OVERLOAD_THEN_SATURATION = [
    {"endpoint": "route", "mode": "saturation", "connections": 8, "seconds": 3},  # warm-up
    {"endpoint": "route", "mode": "open", "rate": 1500, "seconds": 20},
    {"endpoint": "route", "mode": "saturation", "connections": 32, "seconds": 20},
]


def _parent(pid: int) -> int | None:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    return None


def sample_cpu(pids: list[int], stop: threading.Event, out: list) -> None:
    """Append (monotonic time, {pid: CPU seconds}) every 0.1 s until ``stop``."""
    while not stop.is_set():
        out.append((time.monotonic(), {pid: cpu_seconds([pid]) for pid in pids}))
        time.sleep(0.1)


def busier_share_by_second(samples: list, workers: list[int]) -> list[float]:
    """Per whole second of ``samples``: the busier worker's share of the workers' CPU."""
    shares = []
    t0 = samples[0][0]
    by_second: dict[int, tuple] = {}
    for t, cpu in samples:
        by_second.setdefault(int(t - t0), (t, cpu))  # the first sample of each second
    seconds = sorted(by_second)
    for a, b in zip(seconds, seconds[1:]):
        used = [by_second[b][1][w] - by_second[a][1][w] for w in workers]
        if sum(used) > 0:
            shares.append(round(max(used) / sum(used), 2))
    return shares


def run(rate: float, seconds: float, env: dict[str, str]) -> dict:
    out = {"benchmark": "balance", "machine": machine(), "rate": rate, "env": env}
    with tempfile.TemporaryDirectory() as tmp, pg_database() as url:
        models = models_toml(Path(tmp) / "models.toml", 10)
        extra = {"BANDIT_ROUTER_REFIT_IN_PROCESS": "false", **env}
        with server(url, models, workers=2, extra_env=extra) as base, refitter(url):
            key = app_key(base)
            port = int(base.rsplit(":", 1)[1])
            ids = run_load(base, key, OVERLOAD_THEN_SATURATION)["unused_decision_ids"]
            pids = server_pids(port)
            workers = [p for p in pids if _parent(p) in pids]  # the master's children
            samples: list = []
            stop = threading.Event()
            sampler = threading.Thread(target=sample_cpu, args=(pids, stop, samples))
            sampler.start()
            try:
                phase = run_load(base, key, [{"endpoint": "route", "mode": "open",
                                              "rate": rate, "seconds": seconds}], ids)
            finally:
                stop.set()
                sampler.join()
    p = phase["phases"][0]
    shares = busier_share_by_second(samples, workers)
    out.update(latency_ms=p["latency_ms"], errors=p["errors"],
               p99_ms_by_second=p["p99_ms_by_second"], busier_worker_share_by_second=shares,
               load_after=os.getloadavg())
    print(f"route open loop at {rate:.0f}/s: p50 {p['latency_ms']['p50']} ms, p99 "
          f"{p['latency_ms']['p99']} ms, errors {p['errors']}")
    print(f"p99 of each second (ms): {p['p99_ms_by_second']}")
    print(f"busier worker's share of the workers' CPU, each second: {shares} "
          f"(median {sorted(shares)[len(shares) // 2] if shares else None})")
    save(f"balance-{rate:.0f}rps", out)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rate", type=float, default=400.0)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                    help="an environment variable for the server")
    args = ap.parse_args()
    run(args.rate, args.seconds, dict(e.split("=", 1) for e in args.env))


if __name__ == "__main__":
    main()
