"""The open-loop tail and how the workers share the load, second by second.

``bandit-router serve --workers 2`` on a throwaway Postgres database with one separate
``bandit-router refit --every 30`` process, as in ``python -m benchmarks http``; the same
route phases before it (open loop at 1,500/s, then saturation from 32 connections), then
``/v1/route`` open-loop at ``--rate`` for ``--seconds``. While that last phase runs, every
server process's CPU time is read from ``/proc`` every 0.1 s. Prints the phase's latency,
the p99 of each second and, for each second, the busier worker's share of the two workers'
CPU (0.5: even; 1.0: one worker did everything).

    python -m benchmarks.balance [--rate 400] [--seconds 30] [--env NAME=VALUE ...] [--lag]

``--env BANDIT_ROUTER_MAX_REQUESTS_PER_CONNECTION=0`` serves without closing keep-alive
connections (the behaviour before 2026-12-06), for an A/B in the same minutes.

What the tail is made of: each second also gets the machine's busy CPU from ``/proc/stat``
(in cores; the workers' part and everything else's, and the hypervisor's steal), and with
``--lag`` each worker's event-loop lag, GC pauses and involuntary context switches
(benchmarks/lagmon/sitecustomize.py). The seconds whose p99 is over 10 ms are then set beside
the others.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.common import (app_key, lag_by_second, lagmon_env, machine, models_toml,
                               pg_database, refitter, save, server)
from benchmarks.http import backend_pids, cpu_seconds, run_load, server_pids

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


def machine_cpu() -> dict[str, float]:
    """The whole machine's CPU seconds so far (all cores, ``/proc/stat``): busy and steal."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    user, nice, system, idle, iowait, irq, softirq, steal = fields[:8]
    return {"busy": (user + nice + system + irq + softirq) / tick, "steal": steal / tick}


def own_children() -> list[int]:
    """This process's children (the load generator, the refit process, the server's master)."""
    kids: list[int] = []
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        try:
            kids += [int(k) for k in (task / "children").read_text().split()]
        except OSError:
            pass
    return kids


def sample_cpu(pids: list[int], stop: threading.Event, out: list,
               postgres: list[int] = ()) -> None:
    """Append (monotonic time, {pid: CPU seconds} of the server, machine CPU, {pid: CPU
    seconds} of the rest of the benchmark: load generator, refit process, the database's
    Postgres backends) every 0.1 s until ``stop``."""
    while not stop.is_set():
        bench = [k for k in own_children() if k not in pids] + list(postgres)
        out.append((time.monotonic(), {pid: cpu_seconds([pid]) for pid in pids}, machine_cpu(),
                    {pid: cpu_seconds([pid]) for pid in bench}))
        time.sleep(0.1)


def seconds_of(samples: list, start: float, n: int, workers: list[int]) -> list[dict]:
    """For each of the ``n`` whole seconds from ``start`` (the phase's first send time): the
    workers' CPU, the rest of the benchmark's (load generator, refit process, Postgres
    backends), everything else's on the machine ("others"), the machine's busy CPU and steal,
    in cores (CPU seconds per second)."""
    out = []
    for i in range(n):
        inside = [s for s in samples if start + i <= s[0] <= start + i + 1]
        if len(inside) < 2:
            out.append({})
            continue
        (t0, p0, m0, b0), (t1, p1, m1, b1) = inside[0], inside[-1]
        dt = t1 - t0
        used = [p1[w] - p0[w] for w in workers]
        busy = (m1["busy"] - m0["busy"]) / dt
        bench = sum(b1[k] - b0[k] for k in b1.keys() & b0.keys()) / dt
        out.append({"workers_cores": round(sum(used) / dt, 2),
                    "busier_share": round(max(used) / sum(used), 2) if sum(used) else None,
                    "machine_busy_cores": round(busy, 2),
                    "benchmark_rest_cores": round(bench, 2),
                    "others_cores": round(busy - sum(used) / dt - bench, 2),
                    "steal_cores": round((m1["steal"] - m0["steal"]) / dt, 2)})
    return out


def slow_and_fast_seconds(p99s: list[float], seconds: list[dict], limit_ms: float = 10.0
                          ) -> dict:
    """The mean of each per-second measure over the seconds whose p99 is over ``limit_ms``,
    beside the same over the others."""
    groups: dict[str, list[dict]] = {"p99_over_10ms": [], "p99_at_most_10ms": []}
    for p99, sec in zip(p99s, seconds):
        if sec:
            groups["p99_over_10ms" if p99 > limit_ms else "p99_at_most_10ms"].append(sec)
    out = {}
    for name, rows in groups.items():
        keys = sorted({k for r in rows for k, v in r.items() if isinstance(v, (int, float))})
        out[name] = {"seconds": len(rows), **{
            k: round(sum(r[k] for r in rows if r.get(k) is not None)
                     / max(1, sum(r.get(k) is not None for r in rows)), 2) for k in keys}}
    return out


def busier_share_by_second(samples: list, workers: list[int]) -> list[float]:
    """Per whole second of ``samples``: the busier worker's share of the workers' CPU."""
    shares = []
    t0 = samples[0][0]
    by_second: dict[int, tuple] = {}
    for t, cpu, *_ in samples:
        by_second.setdefault(int(t - t0), (t, cpu))  # the first sample of each second
    seconds = sorted(by_second)
    for a, b in zip(seconds, seconds[1:]):
        used = [by_second[b][1][w] - by_second[a][1][w] for w in workers]
        if sum(used) > 0:
            shares.append(round(max(used) / sum(used), 2))
    return shares


def run(rate: float, seconds: float, env: dict[str, str], lag: bool = False) -> dict:
    out = {"benchmark": "balance", "machine": machine(), "rate": rate, "env": env}
    with tempfile.TemporaryDirectory() as tmp, pg_database() as url:
        models = models_toml(Path(tmp) / "models.toml", 10)
        extra = {"BANDIT_ROUTER_REFIT_IN_PROCESS": "false", **env}
        lag_dir = Path(tmp) / "lag"
        if lag:
            extra.update(lagmon_env(lag_dir))
        with server(url, models, workers=2, extra_env=extra) as base, refitter(url):
            key = app_key(base)
            port = int(base.rsplit(":", 1)[1])
            ids = run_load(base, key, OVERLOAD_THEN_SATURATION)["unused_decision_ids"]
            pids = server_pids(port)
            workers = [p for p in pids if _parent(p) in pids]  # the master's children
            samples: list = []
            stop = threading.Event()
            sampler = threading.Thread(target=sample_cpu,
                                       args=(pids, stop, samples, backend_pids(url)))
            sampler.start()
            try:
                phase = run_load(base, key, [{"endpoint": "route", "mode": "open",
                                              "rate": rate, "seconds": seconds}], ids)
            finally:
                stop.set()
                sampler.join()
        p = phase["phases"][0]
        n = len(p["p99_ms_by_second"])
        by_second = seconds_of(samples, p["started_at"], n, workers)
        if lag:
            time.sleep(1.5)  # the workers' last lines
            for sec, lg in zip(by_second, lag_by_second(lag_dir, p["started_at"], n)):
                if sec:
                    sec.update(lg)
    shares = busier_share_by_second(samples, workers)
    split = slow_and_fast_seconds(p["p99_ms_by_second"], by_second)
    out.update(latency_ms=p["latency_ms"], errors=p["errors"],
               p99_ms_by_second=p["p99_ms_by_second"], busier_worker_share_by_second=shares,
               by_second=by_second, slow_and_fast_seconds=split, load_after=os.getloadavg())
    print(f"route open loop at {rate:.0f}/s: p50 {p['latency_ms']['p50']} ms, p99 "
          f"{p['latency_ms']['p99']} ms, errors {p['errors']}")
    print(f"p99 of each second (ms): {p['p99_ms_by_second']}")
    print(f"busier worker's share of the workers' CPU, each second: {shares} "
          f"(median {sorted(shares)[len(shares) // 2] if shares else None})")
    for name, row in split.items():
        print(f"seconds with {name}: {row}")
    save(f"balance-{rate:.0f}rps", out)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rate", type=float, default=400.0)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                    help="an environment variable for the server")
    ap.add_argument("--lag", action="store_true",
                    help="also each worker's event-loop lag, GC pauses and involuntary context "
                         "switches (benchmarks/lagmon)")
    args = ap.parse_args()
    run(args.rate, args.seconds, dict(e.split("=", 1) for e in args.env), args.lag)


if __name__ == "__main__":
    main()
