"""Simulated LLMs behind OpenAI-compatible endpoints on loopback, for ``bandit-router demo``.

Each model answers arithmetic questions ("What is 38 + 47?") correctly with its own
probability (its *quality*), after its own latency, and reports token usage like a hosted
API, so the proxy meters and prices it as it would a real one. The demo grades the answers
by checking the sum, so the reward the router learns from comes from the answers themselves.
One model can be given an outage (503 for a while), to show fallback and the circuit breaker.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bandit_router.routing.catalog import ModelSpec

QUESTION = re.compile(r"What is (\d+) \+ (\d+)\?")


@dataclass(frozen=True)
class SimulatedModel:
    id: str
    quality: float  # probability of a correct answer
    input_price_per_mtok: float
    output_price_per_mtok: float
    latency_ms: float
    answer_tokens: int  # completion tokens it reports (how verbose it is)
    blurb: str

    def spec(self, base_url: str) -> ModelSpec:
        return ModelSpec(id=self.id, input_price_per_mtok=self.input_price_per_mtok,
                         output_price_per_mtok=self.output_price_per_mtok, context_window=16_000,
                         tags=("demo",), provider="simulated", base_url=f"{base_url}/{self.id}/v1",
                         upstream_model=self.id, typical_latency_ms=self.latency_ms)


# Prices are per million tokens, in the range of real hosted models. At the demo's cost
# weight the middle model earns its price: the large one answers a little better for 25×
# the money, the small one is cheap but wrong a third of the time.
LINE_UP = (
    SimulatedModel("small-fast", 0.65, 0.10, 0.40, 40, 60,
                   "cheapest and fastest, right 65% of the time"),
    SimulatedModel("mid-value", 0.82, 0.60, 2.40, 90, 120,
                   "mid-priced, right 82% of the time"),
    SimulatedModel("large-premium", 0.93, 15.0, 60.0, 220, 160,
                   "25x the price of mid-value, right 93% of the time"),
)


@dataclass
class Outage:
    """``model`` answers 503 between ``start`` and ``end`` (time.monotonic() seconds)."""

    model: str
    start: float
    end: float

    def active(self, now: float) -> bool:
        return self.start <= now < self.end


class SimulatedUpstreams:
    """One Starlette app serving every model at ``/<model id>/v1/chat/completions``."""

    def __init__(self, models=LINE_UP, *, seed: int = 0) -> None:
        self.models = {m.id: m for m in models}
        self._rng = {m.id: random.Random(f"{seed}:{m.id}") for m in models}
        self.outage: Outage | None = None
        self.failed: dict[str, int] = {m.id: 0 for m in models}  # 503s answered
        self.app = Starlette(routes=[Route("/{model}/v1/chat/completions", self._chat,
                                           methods=["POST"])])

    async def _chat(self, request: Request) -> Response:
        model = self.models.get(request.path_params["model"])
        if model is None:
            return JSONResponse({"error": {"message": "no such model", "type": "invalid_request_error",
                                           "code": "model_not_found"}}, status_code=404)
        body = await request.json()
        if self.outage is not None and self.outage.model == model.id and self.outage.active(
                time.monotonic()):
            self.failed[model.id] += 1
            return JSONResponse({"error": {"message": f"{model.id} is overloaded (simulated "
                                           "outage)", "type": "server_error", "code": None}},
                                status_code=503)
        rng = self._rng[model.id]
        await asyncio.sleep(model.latency_ms / 1000.0 * rng.uniform(0.7, 1.3))
        prompt = " ".join(str(m.get("content", "")) for m in body.get("messages", []))
        text = _answer(prompt, rng.random() < model.quality, rng)
        return JSONResponse({
            "id": f"chatcmpl-demo-{rng.getrandbits(48):x}", "object": "chat.completion",
            "created": int(time.time()), "model": body.get("model", model.id),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": max(1, len(prompt) // 4),
                      "completion_tokens": model.answer_tokens,
                      "total_tokens": max(1, len(prompt) // 4) + model.answer_tokens},
        })


def _answer(prompt: str, correct: bool, rng: random.Random) -> str:
    found = QUESTION.search(prompt)
    if found is None:
        return "I can only add numbers in this demo."
    total = int(found.group(1)) + int(found.group(2))
    if not correct:
        total += rng.choice((-10, -2, -1, 1, 2, 10))
    return f"The answer is {total}."


def grade(prompt: str, answer: str) -> float:
    """1.0 when the answer states the right sum, else 0.0 (what the demo's app would check)."""
    found = QUESTION.search(prompt)
    said = re.findall(r"-?\d+", answer)
    if found is None or not said:
        return 0.0
    return 1.0 if int(said[-1]) == int(found.group(1)) + int(found.group(2)) else 0.0
