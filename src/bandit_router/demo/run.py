"""``bandit-router demo``: the whole loop on one machine, with no API key and no network.

A throwaway SQLite database, three simulated models on loopback behind the real proxy, and
an app that asks questions through ``POST /v1/chat/completions``, grades the answers and posts
the rewards. Refits run every few seconds, so within a minute routing moves to the model
whose answers are worth their price; the status page shows it happen.
"""

from __future__ import annotations

import json
import secrets
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from bandit_router.demo.loopback import LoopbackServer
from bandit_router.demo.report import DemoResult, conclusion, summarise, table
from bandit_router.demo.traffic import Traffic
from bandit_router.demo.upstreams import LINE_UP, Outage, SimulatedUpstreams

COST_WEIGHT = 20.0  # reward given up per USD: what an answer is worth to the demo's app
TENANT = "demo"
OUTAGE = (0.45, 0.60)  # mid-value's simulated outage, as fractions of the run
# The router's own estimate of a demo call: the question (~20 tokens) and max_tokens=200.
TYPICAL_TOKENS = (20, 200)


def _settings(tmp: Path, admin_key: str, duration_s: float):
    from bandit_router.config import Settings

    return Settings(
        database_url=f"sqlite:///{tmp / 'demo.db'}", models_file=None, admin_key=admin_key,
        cost_weight=COST_WEIGHT, refit_interval_s=2.0, posterior_poll_s=1.0,
        latency_refresh_s=2.0, circuit_failure_threshold=3,
        circuit_cooldown_s=max(0.5, min(5.0, 0.04 * duration_s)))


def _app_key(service) -> str:
    from bandit_router.store import tenants
    from bandit_router.store.db import transaction

    with transaction(service.sessions) as s:
        tenants.create_tenant(s, TENANT, "Demo app")
        return tenants.issue_key(s, TENANT, "app", "demo").secret


def _listen(app, port: int, echo: Callable[[str], None]) -> LoopbackServer:
    try:
        return LoopbackServer(app, port).start()
    except OSError:
        server = LoopbackServer(app, 0).start()
        echo(f"port {port} is in use; the demo listens on {server.port} instead (--port to choose)")
        return server


class _BreakerWatch:
    """Seconds a model's circuit breaker spent open, sampled as the progress bar ticks."""

    def __init__(self, app, model: str) -> None:
        self.app, self.model, self.open_s, self._last = app, model, 0.0, time.monotonic()

    def tick(self) -> None:
        now = time.monotonic()
        proxy = getattr(self.app.state, "proxy", None)
        if proxy is not None and proxy.breakers.state(self.model) != "closed":
            self.open_s += now - self._last
        self._last = now


def _drive(traffic: Traffic, watch: _BreakerWatch, duration_s: float) -> None:
    with tqdm(total=round(duration_s), unit="s", desc="demo traffic", leave=True,
              bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total} s {postfix}") as bar:
        while not traffic.done():
            time.sleep(0.5)
            watch.tick()
            bar.n = min(traffic.elapsed_s(), duration_s)
            recent = [e for e in traffic.snapshot() if e.at_s >= traffic.elapsed_s() - 10]
            answered = [e for e in recent if e.model]
            share = ", ".join(f"{m.id} {sum(e.model == m.id for e in answered) / len(answered):.0%}"
                              for m in LINE_UP) if answered else "…"
            bar.set_postfix_str(f"{len(traffic.snapshot())} requests · last 10 s: {share}")
    traffic.stop()


def run_demo(*, duration_s: float = 90.0, port: int = 8000, clients: int = 4, seed: int = 0,
             outage: bool = True, keep_serving: bool = False, json_out: Path | None = None,
             echo: Callable[[str], None] = print) -> DemoResult:
    from bandit_router import logs
    from bandit_router.api.app import create_app
    from bandit_router.service import Service
    from bandit_router.store import migrate

    logs.configure("ERROR", json_lines=False)  # the progress bar and the summary, not logs
    tmp = Path(tempfile.mkdtemp(prefix="bandit-router-demo-"))
    upstreams = SimulatedUpstreams(seed=seed)
    sim = LoopbackServer(upstreams.app).start()
    service = Service(_settings(tmp, "br_demo_" + secrets.token_urlsafe(18), duration_s))
    server = None
    try:
        migrate.upgrade(service.engine)
        service.register_models([m.spec(sim.url) for m in LINE_UP])
        service.start()
        app = create_app(service=service)
        server = _listen(app, port, echo)
        status_url = f"{server.url}/#key={service.settings.admin_key.get_secret_value()}"
        echo(f"bandit-router demo: {len(LINE_UP)} simulated models on {sim.url}, the router on "
             f"{server.url}, a throwaway database in {tmp}")
        for m in LINE_UP:
            echo(f"  {m.id:14s} {m.blurb}")
        echo(f"Watch it live on the status page: {status_url}")
        traffic = Traffic(server.url, _app_key(service), clients=clients, duration_s=duration_s,
                          seed=seed).start()
        if outage:
            t0 = traffic.started
            upstreams.outage = Outage("mid-value", t0 + OUTAGE[0] * duration_s,
                                      t0 + OUTAGE[1] * duration_s)
        watch = _BreakerWatch(app, "mid-value")
        _drive(traffic, watch, duration_s)
        outage_info = None if not outage else {
            "model": "mid-value", "start_s": OUTAGE[0] * duration_s,
            "end_s": OUTAGE[1] * duration_s, "failed": upstreams.failed["mid-value"],
            "open_s": round(watch.open_s, 1)}
        result = summarise(traffic.snapshot(), LINE_UP, duration_s=traffic.elapsed_s(),
                           cost_weight=COST_WEIGHT, typical_tokens=TYPICAL_TOKENS,
                           outage=outage_info)
        result.status_url = status_url
        result.lines = _report(result, server.url, keep_serving)
        for line in result.lines:
            echo(line)
        if json_out is not None:
            json_out.write_text(json.dumps(result.as_json(), indent=2))
        if keep_serving:
            _wait_for_stop()
        return result
    finally:
        if server is not None:
            server.stop()
        service.stop()
        sim.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _report(result: DemoResult, url: str, keep_serving: bool) -> list[str]:
    """The figures, where to look next, and (last) what the run showed."""
    where = (f"Serving the demo at {url} until Ctrl-C; the status page shows the same: "
             f"{result.status_url}" if keep_serving else
             "The demo stops now and deletes its database (--keep-serving keeps the status page "
             "up afterwards).")
    return ["", *table(result), "", where, *conclusion(result)]


def _wait_for_stop() -> None:
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
