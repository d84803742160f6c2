"""``/v1/chat/completions`` beside the upstream called directly and LiteLLM's proxy, same run.

A fast fake upstream (benchmarks/upstream.py, its own process) serves three models; in front
of it, ``bandit-router serve`` (one worker, SQLite, ``model = "auto"`` over the three) and,
when installed, LiteLLM's proxy (one worker, no database, the three as deployments of one
model name ``auto``). Rounds interleave the targets (each round in a rotated order): at one
connection, ``requests`` sequential calls (JSON, then streamed); at 32 connections, a
closed loop for ``seconds``. Load comes from a separate process (benchmarks/proxyload.py).
Reported: each target's p50/p99 minus the direct upstream's in the same round (the added
latency), throughput at 32 connections and its ratio to LiteLLM's, errors, the server's CPU
per call, and afterwards that bandit-router recorded usage for every call it answered.

LiteLLM is an optional extra (``pip install 'litellm[proxy]'``, or ``BR_BENCH_LITELLM`` naming
a ``litellm`` executable, e.g. from a venv of its own); without it the benchmark says it is
missing and measures the other two.

``BR_BENCH_PROXY_BASELINE`` naming another checkout of bandit-router (e.g. a ``git worktree``
of main) adds it as the target ``baseline``, served the same way from that checkout's
``src/`` with this environment's packages, in the same rounds: a change is compared with
its base under the same load, which on a shared machine moves more between runs than a
change does.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator

import httpx
import numpy as np

from benchmarks.common import ROOT, app_key, free_port, machine, save, server, stop, uptime
from benchmarks.http import cpu_seconds, server_pids

LOGS = Path(tempfile.gettempdir()) / "bandit-router-bench-proxy"
MODELS = ("bench-a", "bench-b", "bench-c")
LITELLM_KEY = "sk-bench-0123456789abcdef0123456789abcdef"  # its proxy refuses to start without one
PROMPT = ("Summarise in two sentences why the sky is blue, for a curious ten-year-old who "
          "already knows that sunlight is a mix of colours.")


def baseline_source() -> Path | None:
    given = os.environ.get("BR_BENCH_PROXY_BASELINE")
    if not given:
        return None
    src = Path(given).resolve() / "src"
    if not (src / "bandit_router").is_dir():
        raise SystemExit(f"BR_BENCH_PROXY_BASELINE={given}: no src/bandit_router there")
    return src


def litellm_command() -> list[str] | None:
    given = os.environ.get("BR_BENCH_LITELLM")
    if given:
        return [given]
    found = shutil.which("litellm", path=str(Path(sys.executable).parent))
    return [found] if found else None


@contextmanager
def process(cmd: list[str], log: Path, ready: str, env: dict | None = None) -> Iterator[None]:
    """``cmd`` in its own process group, until ``ready`` (a URL answering 200) answers."""
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                            env=dict(os.environ, **(env or {})), start_new_session=True)
    try:
        end = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{cmd[0]} exited with {proc.returncode}; see {log}")
            try:
                if httpx.get(ready, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > end:
                raise RuntimeError(f"{cmd[0]} did not become ready; see {log}")
            time.sleep(0.3)
        yield
    finally:
        stop(proc)


def upstream(port: int) -> list[str]:
    return [sys.executable, "-m", "benchmarks.upstream", str(port)]


def models_file(path: Path, upstream_url: str) -> Path:
    path.write_text("".join(
        f'[[models]]\nid = "{m}"\ninput_price_per_mtok = {0.1 * (i + 1):.1f}\n'
        f"output_price_per_mtok = {0.4 * (i + 1):.1f}\ncontext_window = 128000\n"
        f'base_url = "{upstream_url}"\nupstream_model = "{m}"\n\n'
        for i, m in enumerate(MODELS)))
    return path


def litellm_config(path: Path, upstream_url: str) -> Path:
    path.write_text("model_list:\n" + "".join(
        f"  - model_name: auto\n    litellm_params:\n      model: openai/{m}\n"
        f"      api_base: {upstream_url}\n      api_key: sk-bench\n" for m in MODELS)
        + "litellm_settings:\n  drop_params: true\n")
    return path


def load(base: str, path: str, key: str | None, connections: int, *, stream: bool = False,
         requests: int | None = None, seconds: float | None = None) -> dict:
    body = {"model": "auto", "messages": [{"role": "user", "content": PROMPT}],
            "max_tokens": 64, **({"stream": True} if stream else {})}
    plan = {"base": base, "path": path, "key": key, "body": body, "connections": connections,
            "requests": requests, **({"seconds": seconds} if seconds else {})}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(plan, f)
    try:
        proc = subprocess.run([sys.executable, "-m", "benchmarks.proxyload", f.name], cwd=ROOT,
                              capture_output=True, text=True, timeout=900)
    finally:
        Path(f.name).unlink()
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout)


def q(samples: list[float], p: float) -> float | None:
    return round(float(np.percentile(samples, p)) * 1e3, 3) if samples else None


def run(rounds: int = 5, requests: int = 300, seconds: float = 10.0,
        connections: int = 32) -> dict:
    LOGS.mkdir(parents=True, exist_ok=True)
    for old in LOGS.glob("*.log"):
        old.unlink()
    command, baseline = litellm_command(), baseline_source()
    out: dict = {"benchmark": "proxy", "machine": machine(), "uptime_before": uptime(),
                 "rounds": rounds, "requests_per_latency_phase": requests,
                 "seconds_per_throughput_phase": seconds, "connections": connections,
                 "litellm": "missing" if command is None else _version(command),
                 "baseline": None if baseline is None else _revision(baseline.parent),
                 "revision": _revision(ROOT)}
    if command is None:
        print("LiteLLM proxy: missing (pip install 'litellm[proxy]', or set BR_BENCH_LITELLM "
              "to its executable); measuring bandit-router and the direct upstream only")
    with tempfile.TemporaryDirectory() as tmp:
        with ExitStack() as stack:
            out["phases"], answered, names = _serve_and_load(stack, Path(tmp), command,
                                                             baseline, rounds, requests,
                                                             seconds, connections)
        # The servers have stopped (their writers drained): count what they recorded.
        out["recorded"] = {}
        for name, calls in answered.items():
            with sqlite3.connect(Path(tmp) / f"{name}.db") as conn:
                usage = conn.execute("SELECT count(*) FROM usage").fetchone()[0]
                decisions = conn.execute("SELECT count(*) FROM decisions").fetchone()[0]
            out["recorded"][name] = {"answered_200": calls, "usage_rows": usage,
                                     "decision_rows": decisions,
                                     "usage_for_every_call": usage >= calls}
    out["summary"] = summary(out["phases"], names)
    out["uptime_after"] = uptime()
    report(out)
    save("proxy", out)
    return out


def _serve_and_load(stack: ExitStack, tmp: Path, command: list[str] | None,
                    baseline: Path | None, rounds: int, requests: int, seconds: float,
                    connections: int):
    up_port = free_port()
    up = f"http://127.0.0.1:{up_port}/v1"
    stack.enter_context(process(upstream(up_port), LOGS / "upstream.log",
                                f"http://127.0.0.1:{up_port}/v1/chat/completions"))
    targets = {"direct": (up, None)}
    ours = {"bandit-router": None, **({"baseline": baseline} if baseline else {})}
    for name, src in ours.items():
        br = stack.enter_context(server(
            f"sqlite:///{tmp / f'{name}.db'}", models_file(tmp / "m.toml", up), workers=1,
            log=LOGS / f"{name}.log", extra_env={"PYTHONPATH": str(src)} if src else None))
        targets[name] = (br + "/v1", app_key(br))
    if command is not None:
        port = free_port()
        stack.enter_context(process(
            [*command, "--config", str(litellm_config(tmp / "l.yaml", up)),
             "--port", str(port), "--num_workers", "1"], LOGS / "litellm.log",
            f"http://127.0.0.1:{port}/health/liveliness",
            env={"LITELLM_LOG": "ERROR", "LITELLM_TELEMETRY": "False",
                 "LITELLM_MASTER_KEY": LITELLM_KEY}))
        targets["litellm"] = (f"http://127.0.0.1:{port}/v1", LITELLM_KEY)
    phases = _rounds(targets, rounds, requests, seconds, connections)
    answered = {name: sum(p["status"].get("200", 0) for p in phases if p["target"] == name)
                for name in ours}
    return phases, answered, list(targets)


def _revision(checkout: Path) -> str:
    probe = subprocess.run(["git", "-C", str(checkout), "describe", "--always", "--dirty"],
                           capture_output=True, text=True)
    return probe.stdout.strip() or str(checkout)


def _version(command: list[str]) -> str:
    try:
        probe = subprocess.run([str(Path(command[0]).parent / "python"), "-c",
                                "import importlib.metadata as m; print(m.version('litellm'))"],
                               capture_output=True, text=True, timeout=60)
        return probe.stdout.strip() or "installed"
    except OSError:
        return "installed"


def _rounds(targets: dict, rounds: int, requests: int, seconds: float,
            connections: int) -> list[dict]:
    names = list(targets)
    for name, (base, key) in targets.items():  # warm-up: connections, caches, JIT-free paths
        load(base, "/chat/completions", key, 4, requests=200)
    phases = []
    for r in range(rounds):
        print(f"round {r}: load average {uptime().split('load average: ')[-1]}", flush=True)
        order = names[r % len(names):] + names[:r % len(names)]
        for kind, conns, extra in (("json", 1, {"requests": requests}),
                                   ("stream", 1, {"requests": requests, "stream": True}),
                                   ("json", connections, {"seconds": seconds})):
            for name in order:
                base, key = targets[name]
                port = int(base.split(":")[2].split("/")[0])
                pids = server_pids(port)
                cpu0 = cpu_seconds(pids)
                res = load(base, "/chat/completions", key, conns, **extra)
                n = sum(res["status"].values()) or 1
                phases.append({"round": r, "target": name, "kind": kind, "connections": conns,
                               "cpu_ms_per_call": round(1e3 * (cpu_seconds(pids) - cpu0) / n, 3),
                               "throughput_rps": round(res["status"].get("200", 0)
                                                       / res["seconds"], 1),
                               "p50_ms": q(res["latency_s"], 50), "p99_ms": q(res["latency_s"], 99),
                               "first_byte_p50_ms": q(res["first_byte_s"], 50),
                               "errors": res["errors"], "status": res["status"],
                               "socket_errors": res["socket_errors"]})
                print(f"round {r} {name:14s} {kind:6s} x{conns:<3d} "
                      f"{phases[-1]['throughput_rps']:8.1f} rps  p50 {phases[-1]['p50_ms']} ms  "
                      f"p99 {phases[-1]['p99_ms']} ms  CPU {phases[-1]['cpu_ms_per_call']} ms/call"
                      f"  errors {res['errors']}", flush=True)
    return phases


def summary(phases: list[dict], names: list[str]) -> dict:
    """Per target: added p50/p99 at one connection (median over rounds of the difference to
    the direct upstream in the same round), throughput at 32 and CPU per call."""
    def of(name: str, kind: str, conns: int, field: str) -> list[float]:
        return [p[field] for p in phases if p["target"] == name and p["kind"] == kind
                and (p["connections"] == 1) == (conns == 1) and p[field] is not None]

    out = {}
    for name in names:
        s: dict = {"errors": sum(p["errors"] for p in phases if p["target"] == name)}
        for kind in ("json", "stream"):
            for field in ("p50_ms", "p99_ms") + (("first_byte_p50_ms",) if kind == "stream" else ()):
                mine, direct = of(name, kind, 1, field), of("direct", kind, 1, field)
                s[f"{kind}_{field}"] = round(float(np.median(mine)), 3)
                if name != "direct":
                    added = [a - b for a, b in zip(mine, direct)]
                    s[f"{kind}_added_{field}"] = round(float(np.median(added)), 3)
                    s[f"{kind}_added_{field}_range"] = [round(min(added), 3), round(max(added), 3)]
        rps = of(name, "json", 32, "throughput_rps")
        s["throughput_rps"] = round(float(np.median(rps)), 1)
        s["throughput_rps_range"] = [min(rps), max(rps)]
        for conns, label in ((1, "1_connection"), (32, "32_connections")):
            cpu = of(name, "json", conns, "cpu_ms_per_call")
            s[f"cpu_ms_per_call_{label}"] = round(float(np.median(cpu)), 3)
            s[f"cpu_ms_per_call_{label}_range"] = [min(cpu), max(cpu)]
        out[name] = s
    if "litellm" in out:
        theirs = of("litellm", "json", 32, "throughput_rps")
        for name in (n for n in ("bandit-router", "baseline") if n in out):
            ratios = [a / b for a, b in zip(of(name, "json", 32, "throughput_rps"), theirs) if b]
            out[name]["throughput_ratio_to_litellm_per_round"] = [round(r, 2) for r in ratios]
        out["throughput_ratio_to_litellm"] = [
            round(min(out["bandit-router"]["throughput_ratio_to_litellm_per_round"]), 2),
            round(max(out["bandit-router"]["throughput_ratio_to_litellm_per_round"]), 2)]
    return out


def report(out: dict) -> None:
    s = out["summary"]
    print(f"\nLiteLLM proxy: {out['litellm']}; bandit-router at {out['revision']}"
          + (f", baseline at {out['baseline']}" if out["baseline"] else ""))
    for name in (n for n in ("bandit-router", "baseline", "litellm") if n in s):
        t = s[name]
        print(f"{name:14s} added at 1 connection: p50 +{t['json_added_p50_ms']} ms "
              f"{t['json_added_p50_ms_range']}, p99 +{t['json_added_p99_ms']} ms; stream first "
              f"byte +{t['stream_added_first_byte_p50_ms']} ms; {t['throughput_rps']} rps at "
              f"{out['connections']} connections {t['throughput_rps_range']}; CPU/call "
              f"{t['cpu_ms_per_call_1_connection']} ms at 1 connection, "
              f"{t['cpu_ms_per_call_32_connections']} ms at {out['connections']}; "
              f"errors {t['errors']}"
              + (f"; throughput / LiteLLM's per round {t['throughput_ratio_to_litellm_per_round']}"
                 if "throughput_ratio_to_litellm_per_round" in t else ""))
    print(f"direct upstream: p50 {s['direct']['json_p50_ms']} ms, {s['direct']['throughput_rps']} rps")
    if "throughput_ratio_to_litellm" in s:
        print(f"bandit-router / LiteLLM throughput, per round: {s['throughput_ratio_to_litellm']}")
    print(f"recorded: {out['recorded']}")
