"""Soak test: minutes of steady mixed route/feedback traffic against a real server.

    python -m benchmarks.soak                   # 10 minutes at 200 requests/s, own server
    python -m benchmarks.soak --minutes 1 --rate 100 --json soak.json

Starts `bandit-router serve` on a fresh PostgreSQL database (127.0.0.1:5432, dropped at the
end) unless ``--url`` points at a running server. Load comes from this process (a separate
process from the server), open-loop at a fixed rate: every second, ``rate`` route calls each
followed by its feedback. Reports errors (must be 0), p50/p99 per minute, and the server's
resident memory at the start and the end (it must not grow without bound). Not part of the
test suite: it runs for minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from benchmarks.common import app_key, exit_on_sigterm, pg_database, server
from benchmarks.loadgen import Pool, no_gc, post_bytes

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = [
    "Write a Python function that merges two sorted lists.",
    "Summarise the causes of the French Revolution in three sentences.",
    "What is the derivative of x^3 * sin(x)?",
    "Translate 'good morning, how are you' into Spanish and German.",
    "Explain the difference between TCP and UDP for a beginner.",
]


def _rss_kb(pid: int) -> int:
    """Resident memory of a process and its children (uvicorn workers), in KiB."""
    total = 0
    pids = [pid] + [int(p) for p in subprocess.run(["pgrep", "-P", str(pid)], check=False, capture_output=True,
                                                   text=True).stdout.split()]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total


async def _post(pool: Pool, key: str, path: str, payload: dict) -> tuple[int, dict]:
    raw = post_bytes(pool.host, path, key, json.dumps(payload).encode())
    status, data = await pool.send(raw, timeout=30)
    return status, json.loads(data) if data else {}


async def _one(pool: Pool, key: str, i: int, t_sched: float, samples: list,
               errors: list) -> None:
    """One route then its feedback; latency counted from the scheduled send time."""
    try:
        status, out = await _post(pool, key, "/v1/route",
                                  {"prompt": PROMPTS[i % len(PROMPTS)] + f" #{i}"})
        t1 = time.perf_counter()
        if status != 200:
            errors.append(("route", status, str(out)[:200]))
            return
        status, out = await _post(pool, key, "/v1/feedback",
                                  {"decision_id": out["decision_id"], "reward": (i % 10) / 10,
                                   "latency_ms": 100.0 + i % 500})
        t2 = time.perf_counter()
        if status != 201:
            errors.append(("feedback", status, str(out)[:200]))
        samples.append((time.monotonic(), (t1 - t_sched) * 1000, (t2 - t1) * 1000))
    except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError) as exc:
        errors.append(("transport", type(exc).__name__, str(exc)[:200]))


async def _load(url: str, key: str, rate: float, seconds: float, samples: list,
                errors: list) -> int:
    # Raw keep-alive connections, not httpx: with many requests queued, httpx's pool
    # bookkeeping goes quadratic and the generator, not the server, becomes the bottleneck.
    u = urlsplit(url)
    pool = Pool(u.hostname, u.port, size=64)
    tasks: set = set()
    n = int(rate * seconds)
    t0 = time.perf_counter() + 0.05
    for i in range(n):  # open loop: send what is due, whatever the server's pace
        t_sched = t0 + i / rate
        delay = t_sched - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = asyncio.create_task(_one(pool, key, i, t_sched, samples, errors))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:  # bounded: a load generator that fell behind must still report
        _, late = await asyncio.wait(set(tasks), timeout=30)
        for task in late:
            task.cancel()
        errors.extend(("unfinished", None, "not answered 30 s after the last send")
                      for _ in late)
    pool.close()
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=200.0, help="route+feedback pairs per second")
    ap.add_argument("--url", help="a running server (then --key and --admin-key are needed)")
    ap.add_argument("--key", help="app key for --url")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)

    exit_on_sigterm()
    with ExitStack() as stack:
        if args.url:
            url, key, pid = args.url, args.key, None
        else:
            pids: list = []
            db = stack.enter_context(pg_database("br_soak"))
            url = stack.enter_context(server(db, ROOT / "examples" / "models.toml",
                                             workers=args.workers, pids=pids))
            key, pid = app_key(url, "soak"), pids[0]
        samples: list = []
        errors: list = []
        # Warm up for 5 s so that start-up allocation is not counted as growth.
        asyncio.run(_load(url, key, args.rate, 5.0, [], errors))
        rss_start = _rss_kb(pid) if pid else None
        t0 = time.monotonic()
        rss_trace: list = []  # (seconds since start, KiB), every 30 s, to see whether it levels off
        stop = threading.Event()
        if pid:
            def sample() -> None:
                while not stop.wait(30):
                    rss_trace.append((round(time.monotonic() - t0), _rss_kb(pid)))
            threading.Thread(target=sample, daemon=True).start()
        with no_gc():
            sent = asyncio.run(_load(url, key, args.rate, args.minutes * 60, samples, errors))
        stop.set()
        rss_end = _rss_kb(pid) if pid else None

    at = np.array([s[0] for s in samples]) - t0
    route_ms = np.array([s[1] for s in samples])
    feedback_ms = np.array([s[2] for s in samples])
    minutes = []
    for m in range(int(np.ceil(args.minutes))):
        sel = (at >= 60 * m) & (at < 60 * (m + 1))
        if sel.any():
            minutes.append({"minute": m + 1, "pairs": int(sel.sum()),
                            "route_p50_ms": round(float(np.percentile(route_ms[sel], 50)), 2),
                            "route_p99_ms": round(float(np.percentile(route_ms[sel], 99)), 2),
                            "feedback_p99_ms": round(float(np.percentile(feedback_ms[sel], 99)),
                                                     2)})
    report = {"cores": os.cpu_count(), "rate_per_s": args.rate, "minutes": args.minutes,
              "pairs_sent": sent, "pairs_completed": len(samples), "errors": len(errors),
              "first_errors": errors[:5], "rss_start_kib": rss_start, "rss_end_kib": rss_end,
              "rss_every_30s_kib": rss_trace,
              "per_minute": minutes}
    print(f"soak: {sent} route+feedback pairs at {args.rate:g}/s over {args.minutes:g} min, "
          f"{len(errors)} errors")
    for m in minutes:
        print(f"  minute {m['minute']:>3}: {m['pairs']:>6} pairs  route p50 {m['route_p50_ms']:>7} ms"
              f"  p99 {m['route_p99_ms']:>7} ms  feedback p99 {m['feedback_p99_ms']:>7} ms")
    if rss_start:
        print(f"  server memory (RSS, all workers): {rss_start / 1024:.0f} MiB at start, "
              f"{rss_end / 1024:.0f} MiB at end")
        print("  RSS every 30 s (MiB): " + ", ".join(f"{kib / 1024:.0f}" for _, kib in rss_trace))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
