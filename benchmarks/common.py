"""What the benchmarks share: the machine, percentiles, prompts, a throwaway Postgres database,
and a running ``bandit-router serve``."""

from __future__ import annotations

import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PG_SERVER = os.environ.get("BR_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432")
ADMIN_KEY = "bench-operator-key-0123456789abcdef"

_WORDS = ("the of and to in is for that with as on be by this are from or it an at which "
          "model answer question code python function return value error explain why how "
          "compute integral probability theorem prove data table select join index query "
          "summarise translate french english poem story write list steps first second "
          "because therefore however example number result test case input output").split()


def speed_reference_us() -> float:
    """Median time of a fixed pure-Python loop (``sum(range(1000))``), in µs.

    Virtual machines of the same nominal size differ in speed from day to day (the same
    decision benchmark ran twice as slow on one as on another): compare runs with this."""
    import timeit

    runs = timeit.repeat("sum(range(1000))", number=2000, repeat=7)
    return round(float(np.median(runs)) / 2000 * 1e6, 2)


def machine() -> dict:
    load = os.getloadavg()
    return {"cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "load_avg_1_5_15": [round(x, 2) for x in load],
            "speed_reference_us": speed_reference_us(),
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def pct(samples_s, scale: float = 1e3) -> dict:
    """p50/p90/p99/max of durations in seconds, in ms (scale 1e3) or µs (1e6)."""
    a = np.asarray(samples_s, dtype=float) * scale
    if len(a) == 0:
        return {"n": 0}
    return {"n": int(len(a)), "p50": round(float(np.percentile(a, 50)), 3),
            "p90": round(float(np.percentile(a, 90)), 3),
            "p99": round(float(np.percentile(a, 99)), 3), "max": round(float(a.max()), 3)}


def prompts(n: int, size: int = 2048, seed: int = 0) -> list[str]:
    """``n`` distinct English-like prompts of about ``size`` characters."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        words = rng.choice(_WORDS, size=size // 5)
        text = " ".join(words)[:size]
        out.append(text.capitalize() + "?")
    return out


def save(name: str, result: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path.relative_to(ROOT)}")
    return path


@contextmanager
def pg_database(prefix: str = "br_bench", revision: str = "head") -> Iterator[str]:
    """A fresh database on the local server, migrated to ``revision``; dropped afterwards."""
    import psycopg

    from bandit_router.store import migrate
    from bandit_router.store.db import make_engine

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://{PG_SERVER.split('://', 1)[1]}/{name}"
    try:
        engine = make_engine(url)
        migrate.upgrade(engine, revision)
        engine.dispose()
        yield url
    finally:
        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    """A free loopback port: any (the kernel's choice), or one in ``BR_BENCH_PORTS``
    (``LOW-HIGH``), for a machine where several people's servers must not collide."""
    span = os.environ.get("BR_BENCH_PORTS")
    candidates = [0]
    if span:
        low, high = (int(x) for x in span.split("-"))
        candidates = list(np.random.default_rng().permutation(np.arange(low, high + 1)))
    for port in candidates:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", int(port)))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError(f"no free port in BR_BENCH_PORTS={span}")


def models_toml(path: Path, k: int) -> Path:
    lines = []
    for i in range(k):
        lines += ["[[models]]", f'id = "model-{i:02d}"', f"input_price_per_mtok = {0.1 * (i + 1):.2f}",
                  f"output_price_per_mtok = {0.4 * (i + 1):.2f}", "context_window = 128000", ""]
    path.write_text("\n".join(lines))
    return path


@contextmanager
def server(url: str, models: Path, *, workers: int = 2, port: int | None = None,
           extra_env: dict | None = None, log: Path | None = None,
           pids: list | None = None) -> Iterator[str]:
    """``bandit-router serve`` in its own process group; yields its base URL (and appends
    the server's pid, which is also its process group, to ``pids`` when given)."""
    port = port or free_port()
    env = dict(os.environ, BANDIT_ROUTER_DATABASE_URL=url, BANDIT_ROUTER_ADMIN_KEY=ADMIN_KEY,
               BANDIT_ROUTER_LOG_LEVEL="WARNING", **(extra_env or {}))
    out = open(log, "ab") if log else subprocess.DEVNULL
    proc = subprocess.Popen(
        [sys.executable, "-m", "bandit_router.cli", "serve", "--models", str(models),
         "--port", str(port), "--workers", str(workers)],
        env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    if pids is not None:
        pids.append(proc.pid)
    try:
        wait_ready(base, proc)
        yield base
    finally:
        stop(proc)


def exit_on_sigterm() -> None:
    """Turn SIGTERM into ``SystemExit``, so that a benchmark killed by ``kill`` or a CI
    timeout still stops its server and drops its database (its ``finally`` blocks run)."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def stop(proc: subprocess.Popen) -> None:
    """End ``proc`` and its process group: SIGTERM, then SIGKILL after 30 s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def wait_ready(base: str, proc: subprocess.Popen | None = None, timeout: float = 60.0) -> None:
    import httpx

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{base} did not become ready in {timeout:.0f} s")


def app_key(base: str, tenant: str = "bench") -> str:
    import httpx

    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    r = httpx.post(base + "/v1/tenants", json={"id": tenant, "name": tenant}, headers=admin)
    assert r.status_code in (201, 409), r.text
    r = httpx.post(f"{base}/v1/tenants/{tenant}/keys", headers=admin)
    assert r.status_code == 201, r.text
    return r.json()["key"]


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


@contextmanager
def refitter(url: str, every_s: float = 30.0) -> Iterator[list]:
    """Refit every ``every_s`` seconds from one separate, long-lived process
    (``bandit-router refit --every``), as a deployment with
    ``BANDIT_ROUTER_REFIT_IN_PROCESS=false`` on its serving replicas would, at the lowest CPU
    priority since it shares the servers' two cores. Yields the list of refit times (s)."""
    import threading

    env = dict(os.environ, BANDIT_ROUTER_LOG_LEVEL="WARNING")
    proc = subprocess.Popen(["nice", "-n", "19", sys.executable, "-m", "bandit_router.cli",
                             "refit", "--every", str(every_s), "--database-url", url],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    times: list = []

    def read() -> None:
        for line in proc.stdout:
            times.append(round(json.loads(line)["seconds"], 2))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield times
    finally:
        proc.terminate()
        proc.wait(30)
        reader.join(5)


def lagmon_env(folder: Path) -> dict[str, str]:
    """The server's environment for benchmarks/lagmon: its files go to ``folder``."""
    folder.mkdir(exist_ok=True)
    site = str(Path(__file__).resolve().parent / "lagmon")
    return {"BR_LAGMON_DIR": str(folder), "PYTHONPATH": os.pathsep.join(
        [site] + [p for p in [os.environ.get("PYTHONPATH")] if p])}


def lag_by_second(folder: Path, start: float, n: int) -> list[dict]:
    """Each second's worst event-loop lag over the workers, their GC pauses, involuntary
    context switches and the time their loop threads waited for a CPU, summed (from
    benchmarks/lagmon's files; a worker's second is counted in the
    phase second its middle falls in)."""
    out: list[dict] = [{"lag_max_ms": 0.0, "lag_over_20ms": 0, "gc_max_ms": 0.0,
                        "involuntary_switches": 0, "loop_runqueue_wait_ms": 0.0}
                       for _ in range(n)]
    for f in folder.glob("lag-*.jsonl"):
        for line in f.read_text().splitlines():
            r = json.loads(line)
            i = int(r["t"] + r["span_s"] / 2 - start)
            if 0 <= i < n:
                o = out[i]
                o["lag_max_ms"] = max(o["lag_max_ms"], r["lag_max_ms"])
                o["lag_over_20ms"] += r["lag_over_20ms"]
                o["gc_max_ms"] = max(o["gc_max_ms"], r["gc_max_ms"])
                o["involuntary_switches"] += r["involuntary_switches"]
                o["loop_runqueue_wait_ms"] += r.get("loop_thread_runqueue_wait_ms", 0.0)
    return out
