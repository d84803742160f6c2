"""HTTP ``/v1/route`` and ``/v1/feedback`` against ``bandit-router serve`` on Postgres, with
load from a separate process (benchmarks/loadgen.py) on loopback, beside a trivial FastAPI
endpoint (benchmarks/trivial.py) served and loaded the same way before and after, so that
throughput is also a ratio to what this machine gives any FastAPI endpoint in the same run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from benchmarks.common import (ROOT, app_key, free_port, lag_by_second, lagmon_env, machine,
                               models_toml, pg_database, prompts, refitter, save, server, stop,
                               uptime, wait_ready)


SERVER_LOG = Path(tempfile.gettempdir()) / "bandit-router-bench-http-server.log"


def run_load(base: str, key: str, phases: list[dict], decision_ids: list[str] | None = None,
             n_prompts: int = 200) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"base": base, "key": key, "prompts": prompts(n_prompts, seed=3),
                   "phases": phases, "decision_ids": decision_ids or []}, f)
    proc = subprocess.run([sys.executable, "-m", "benchmarks.loadgen", f.name], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    Path(f.name).unlink()
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of processes (Linux /proc), 0 for those that are gone."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def server_pids(port: int) -> list[int]:
    """The uvicorn processes (master and workers) listening on ``port``."""
    out = subprocess.run(["ss", "-Htlnp", f"sport = :{port}"], capture_output=True, text=True)
    pids = {int(p) for p in re.findall(r"pid=(\d+)", out.stdout)}
    for pid in list(pids):  # workers share the master's socket; add its children
        try:
            kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            kids = []
        pids.update(int(k) for k in kids)
    return sorted(pids)


def backend_pids(url: str) -> list[int]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        pids = conn.execute(sa.text("SELECT pid FROM pg_stat_activity WHERE datname = "
                                    "current_database() AND pid <> pg_backend_pid()")).scalars()
        pids = list(pids)
    engine.dispose()
    return pids


def committed(url: str) -> tuple[set[str], list[str]]:
    """Ids of the committed decisions, and the decision id of every committed feedback."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        decisions = set(conn.execute(sa.text("SELECT id FROM decisions")).scalars())
        feedback = list(conn.execute(sa.text("SELECT decision_id FROM feedback")).scalars())
    engine.dispose()
    return decisions, feedback


def reference(seconds: float, connections: int, workers: int, open_rate: float | None = None
              ) -> dict:
    """Saturation throughput of the trivial endpoint: uvicorn with ``workers`` workers, the
    same load generator, the same route requests, ``connections`` connections.

    With ``open_rate``, then two open-loop phases: at that rate (the route's half saturation:
    what this load generator and machine add to a p99 at the same offered rate) and at half
    of the trivial endpoint's own saturation (the same share of its capacity). Their p99s
    say how far the open-loop floor can be judged here."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "benchmarks.trivial:app", "--port", str(port),
         "--workers", str(workers), "--log-level", "warning", "--no-access-log"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, proc)
        pids = server_pids(port)
        run_load(base, "unused", [{"endpoint": "route", "mode": "saturation",
                                   "connections": 8, "seconds": 3}])  # warm-up
        cpu0 = cpu_seconds(pids)
        p = run_load(base, "unused", [{"endpoint": "route", "mode": "saturation",
                                       "connections": connections, "seconds": seconds}]
                     )["phases"][0]
        p["server_cpu_ms_per_request"] = round(
            1e3 * (cpu_seconds(pids) - cpu0) / max(p["requests"], 1), 3)
        if open_rate is not None:
            p["open_loop"] = []
            for rate in (open_rate, round(p["throughput_rps"] / 2, 1)):
                o = run_load(base, "unused", [{"endpoint": "route", "mode": "open",
                                               "rate": rate, "seconds": seconds}])["phases"][0]
                p["open_loop"].append({"rate": rate, "latency_ms": o["latency_ms"],
                                       "errors": o["errors"],
                                       "p99_ms_by_second": o["p99_ms_by_second"]})
    finally:
        stop(proc)
    p.pop("p99_ms_by_second", None)
    return p


def run(rate: float = 1500.0, seconds: float = 60.0, connections: int = 32, k: int = 10,
        workers: int = 2, lag: bool = False) -> dict:
    """``lag``: also each worker's event-loop lag, GC pauses and waits for a CPU, second by
    second, beside each open-loop phase's p99 (benchmarks/lagmon, as ``balance --lag``)."""
    phases = [
        {"endpoint": "route", "mode": "saturation", "connections": 8, "seconds": 3},  # warm-up
        {"endpoint": "route", "mode": "open", "rate": rate, "seconds": seconds},
        {"endpoint": "route", "mode": "saturation", "connections": connections,
         "seconds": seconds},
        # Open loop at half the rate just measured at saturation (resolved below).
        {"endpoint": "route", "mode": "open", "rate": "half-saturation", "seconds": seconds},
        # Feedback at saturation before the fixed rate: an offered rate above what the machine
        # serves would otherwise use up the decision ids that saturation needs.
        {"endpoint": "feedback", "mode": "saturation", "connections": connections,
         "seconds": seconds},
        {"endpoint": "feedback", "mode": "open", "rate": rate, "seconds": seconds},
    ]
    out = {"benchmark": "http", "machine": machine(), "uptime_before": uptime(),
           "workers": workers, "k": k, "offered_rate_rps": rate}
    SERVER_LOG.unlink(missing_ok=True)
    references = [reference(seconds, connections, workers)]
    with tempfile.TemporaryDirectory() as tmp, pg_database() as url:
        models = models_toml(Path(tmp) / "models.toml", k)
        # Serving processes only poll for new posteriors; a separate process refits every 30 s.
        env = {"BANDIT_ROUTER_REFIT_IN_PROCESS": "false"}
        lag_dir = Path(tmp) / "lag"
        if lag:
            env.update(lagmon_env(lag_dir))
        with server(url, models, workers=workers, log=SERVER_LOG, extra_env=env) as base, \
                refitter(url) as refits:
            key = app_key(base)
            port = int(base.rsplit(":", 1)[1])
            ids: list[str] = []
            results = []
            routed: list[str] = []
            acked: list[str] = []
            for phase in phases:  # one load process per phase, to measure CPU per phase
                if phase.get("rate") == "half-saturation":
                    saturated = [r for r in results if r["endpoint"] == "route"
                                 and r["mode"] == "saturation"][-1]
                    phase = dict(phase, rate=round(saturated["throughput_rps"] / 2, 1))
                pids, pg = server_pids(port), backend_pids(url)
                cpu0, pg0 = cpu_seconds(pids), cpu_seconds(pg)
                each0 = {pid: cpu_seconds([pid]) for pid in pids}
                res = run_load(base, key, [phase], ids)
                pg = sorted(set(pg) | set(backend_pids(url)))
                p = res["phases"][0]
                cpu, pgcpu = cpu_seconds(pids) - cpu0, cpu_seconds(pg) - pg0
                n = max(p["requests"], 1)
                p["server_cpu_ms_per_request"] = round(1e3 * cpu / n, 3)
                p["postgres_cpu_ms_per_request"] = round(1e3 * pgcpu / n, 3)
                # How evenly the workers shared the work: keep-alive connections stay with
                # the worker that accepted them, so a client reusing a few of them can load
                # one worker only (benchmarks/README.md, 2026-12-06, "the open-loop tail").
                each = sorted((cpu_seconds([pid]) - c for pid, c in each0.items()),
                              reverse=True)
                p["busiest_server_process_cpu_share"] = round(each[0] / max(sum(each), 1e-9), 3)
                ids = res["unused_decision_ids"]
                routed += res["routed"]
                acked += res["acknowledged"]
                results.append(p)
            time.sleep(1.0)
        out["refits_during_run_s"] = refits
        if lag:
            for p in results:
                if p["mode"] == "open":
                    n = len(p["p99_ms_by_second"])
                    p["lag_by_second"] = lag_by_second(lag_dir, p["started_at"], n)
        # The server has shut down (draining its writers): count what is committed.
        decisions, feedback = committed(url)
    half_rate = [p for p in results
                 if p["endpoint"] == "route" and p["mode"] == "open"][-1]["rate"]
    references.append(reference(seconds, connections, workers, open_rate=half_rate))
    out["phases"] = results[1:]
    ref_rps = sum(r["throughput_rps"] for r in references) / len(references)
    out["trivial_fastapi_endpoint"] = {"runs": references, "mean_throughput_rps": round(ref_rps, 1)}
    for p in out["phases"]:
        p["ratio_to_trivial_endpoint"] = round(p["throughput_rps"] / ref_rps, 3)
    out["durability"] = {
        "route_200": len(routed), "decisions_committed": len(decisions),
        "feedback_2xx": len(acked), "feedback_committed": len(feedback),
        "every_decision_answered_200_is_committed": set(routed) <= decisions,
        "every_2xx_feedback_is_committed": set(acked) <= set(feedback),
        "no_feedback_stored_twice": len(feedback) == len(set(feedback))}
    out["uptime_after"] = uptime()
    for p in out["phases"]:
        lat = p["latency_ms"]
        what = (f"{p['rate']:.0f} rps offered" if p["mode"] == "open"
                else f"saturation, {p['connections']} connections")
        print(f"{p['endpoint']:9s} {what:32s} {p['throughput_rps']:8.1f} rps  "
              f"p50 {lat['p50']} ms  p99 {lat['p99']} ms  errors {p['errors']}  "
              f"CPU/request: server {p['server_cpu_ms_per_request']} ms, "
              f"postgres {p['postgres_cpu_ms_per_request']} ms, "
              f"busiest worker {p['busiest_server_process_cpu_share']:.0%} of it")
    print("trivial FastAPI endpoint, same workers and load, before and after: "
          + ", ".join(f"{r['throughput_rps']:.1f} rps (p99 {r['latency_ms']['p99']} ms, "
                      f"CPU/request {r['server_cpu_ms_per_request']} ms)" for r in references))
    for p in out["phases"]:
        if p["mode"] == "saturation":
            print(f"{p['endpoint']} at saturation / trivial endpoint: "
                  f"{p['ratio_to_trivial_endpoint']:.3f}")
    for p in out["phases"]:
        if "lag_by_second" in p:
            print(f"{p['endpoint']} open loop at {p['rate']:.0f} rps, each second: p99 ms / "
                  "worst event-loop lag ms / worst GC pause ms / loop threads' wait for a CPU ms")
            print("  " + "  ".join(
                f"{p99:g}/{g['lag_max_ms']:g}/{g['gc_max_ms']:g}/{g['loop_runqueue_wait_ms']:.0f}"
                for p99, g in zip(p["p99_ms_by_second"], p["lag_by_second"])))
    half = [p for p in out["phases"] if p["endpoint"] == "route" and p["mode"] == "open"][-1]
    print(f"route open loop at half saturation ({half['rate']:.0f} rps): p99 "
          f"{half['latency_ms']['p99']} ms")
    for o in references[-1]["open_loop"]:
        print(f"  trivial endpoint, open loop at {o['rate']:.0f} rps: p50 "
              f"{o['latency_ms']['p50']} ms, p99 {o['latency_ms']['p99']} ms")
    print(f"durability: {out['durability']}")
    save("http" if rate == 1500 else f"http-{rate:.0f}rps", out)
    return out
