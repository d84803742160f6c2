"""The demo's app: asks the proxy arithmetic questions, grades each answer, posts the reward.

Several client threads, each with its own HTTP connection, as several app processes would.
Everything goes over real HTTP to the service (``POST /v1/chat/completions`` with
``model="auto"``, then ``POST /v1/feedback`` with the answering decision's id).
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass

import httpx

from bandit_router.demo.upstreams import grade

_OPENERS = ("Quick check:", "For the invoice:", "Homework help:", "Sanity test:",
            "In the spreadsheet,", "My kid asks:", "Inventory count:", "Before we ship:")


@dataclass(frozen=True)
class Exchange:
    """One request of the demo's app, as it saw it."""

    at_s: float  # since the start of the traffic
    status: int  # the proxy's HTTP status (0: no answer at all)
    model: str | None = None  # the model that answered
    reward: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


def question(rng: random.Random) -> str:
    a, b = rng.randint(10, 999), rng.randint(10, 999)
    return f"{rng.choice(_OPENERS)} What is {a} + {b}? Reply with the number."


def ask(http: httpx.Client, prompt: str, started: float) -> Exchange:
    """One question through the proxy and, when answered, its graded feedback."""
    at = time.monotonic() - started
    try:
        r = http.post("/v1/chat/completions", json={
            "model": "auto", "max_tokens": 200,
            "messages": [{"role": "user", "content": prompt}]})
    except httpx.HTTPError:
        return Exchange(at, 0)
    if r.status_code != 200:
        return Exchange(at, r.status_code)
    body = r.json()
    reward = grade(prompt, body["choices"][0]["message"]["content"])
    usage = body.get("usage") or {}
    try:
        http.post("/v1/feedback", json={
            "decision_id": r.headers["x-bandit-router-decision-id"], "reward": reward,
            "latency_ms": r.elapsed.total_seconds() * 1000.0})
    except httpx.HTTPError:
        reward = None
    return Exchange(at, 200, r.headers["x-bandit-router-model"], reward,
                    int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)))


class Traffic:
    """``clients`` threads asking questions until :meth:`stop` or ``duration_s`` is over."""

    def __init__(self, url: str, app_key: str, *, clients: int, duration_s: float,
                 seed: int) -> None:
        self.url, self.key = url, app_key
        self.duration_s = duration_s
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.started = time.monotonic()
        self._threads = [threading.Thread(target=self._client, args=(random.Random(f"{seed}:{i}"),),
                                          daemon=True, name=f"demo-client-{i}")
                         for i in range(clients)]

    def start(self) -> "Traffic":
        self.started = time.monotonic()
        for t in self._threads:
            t.start()
        return self

    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    def done(self) -> bool:
        return self.elapsed_s() >= self.duration_s or self._stop.is_set()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=40)

    def _client(self, rng: random.Random) -> None:
        headers = {"Authorization": f"Bearer {self.key}"}
        with httpx.Client(base_url=self.url, headers=headers, timeout=40.0,
                          trust_env=False) as http:  # loopback only: never via a proxy
            while not self.done():
                ex = ask(http, question(rng), self.started)
                with self._lock:
                    self.exchanges.append(ex)

    def snapshot(self) -> list[Exchange]:
        with self._lock:
            return list(self.exchanges)
