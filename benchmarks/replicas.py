"""Two ``bandit-router serve`` processes sharing one Postgres: aggregate throughput, then a
refit on one and the time until both answer with the new ``policy_version``."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

from benchmarks.common import (ADMIN_KEY, ROOT, app_key, machine, models_toml, pg_database,
                               prompts, save, server, uptime)

POLL_S = 1.0


def _loadgen(base: str, key: str, phases: list[dict]) -> subprocess.Popen:
    f = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    json.dump({"base": base, "key": key, "prompts": prompts(200, seed=3), "phases": phases}, f)
    f.close()
    return subprocess.Popen([sys.executable, "-m", "benchmarks.loadgen", f.name], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def run(seconds: float = 10.0, connections: int = 16, k: int = 10) -> dict:
    out = {"benchmark": "replicas", "machine": machine(), "uptime_before": uptime(),
           "servers": 2, "workers_per_server": 1, "k": k, "posterior_poll_s": POLL_S}
    env = {"BANDIT_ROUTER_POSTERIOR_POLL_S": str(POLL_S),
           "BANDIT_ROUTER_REFIT_INTERVAL_S": "3600"}
    with tempfile.TemporaryDirectory() as tmp, pg_database() as url, ExitStack() as stack:
        models = models_toml(Path(tmp) / "models.toml", k)
        bases = [stack.enter_context(server(url, models, workers=1, extra_env=env,
                                            log=Path(tmp) / f"server{i}.log"))
                 for i in range(2)]
        key = app_key(bases[0])
        phases = [{"endpoint": "route", "mode": "saturation", "connections": 4, "seconds": 2},
                  {"endpoint": "route", "mode": "saturation", "connections": connections,
                   "seconds": seconds},
                  {"endpoint": "feedback", "mode": "saturation", "connections": connections,
                   "seconds": seconds}]
        procs = [_loadgen(b, key, phases) for b in bases]
        results = [json.loads(p.communicate(timeout=300)[0])["phases"] for p in procs]
        agg = {}
        for i, name in ((1, "route"), (2, "feedback")):
            agg[name] = {"throughput_rps": round(sum(r[i]["throughput_rps"] for r in results), 1),
                         "errors": sum(r[i]["errors"] for r in results),
                         "per_server": [{"rps": r[i]["throughput_rps"],
                                         "latency_ms": r[i]["latency_ms"]} for r in results]}
            print(f"aggregate {name:9s} {agg[name]['throughput_rps']:8.1f} rps over 2 servers, "
                  f"errors {agg[name]['errors']}, per server {agg[name]['per_server']}")
        out["aggregate"] = agg

        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        user = {"Authorization": f"Bearer {key}"}
        t0 = time.monotonic()
        r = httpx.post(bases[0] + "/v1/admin/refit", headers=admin, timeout=300)
        assert r.status_code == 200, r.text
        refit = r.json()
        version = refit["version"]
        refit_s = time.monotonic() - t0
        seen: dict[str, float] = {}
        while len(seen) < 2 and time.monotonic() - t0 < refit_s + 10 * POLL_S:
            for b in bases:
                if b not in seen:
                    v = httpx.post(b + "/v1/route", json={"prompt": "which version?"},
                                   headers=user).json()["policy_version"]
                    if v == version:
                        seen[b] = round(time.monotonic() - t0 - refit_s, 3)
            time.sleep(0.05)
        out["refit"] = {"version": version, "new_rows": refit["new_rows"],
                        "refit_seconds": round(refit_s, 3),
                        "seconds_after_refit_until_serving": [seen.get(b) for b in bases],
                        "both_serve_new_version": len(seen) == 2}
        print(f"refit on server 0 -> version {version} in {refit_s:.2f} s; serving it after "
              f"{out['refit']['seconds_after_refit_until_serving']} s (poll every {POLL_S} s)")
    out["uptime_after"] = uptime()
    save("replicas", out)
    return out
