"""Real HTTP servers on 127.0.0.1 for the tests: any ASGI app under uvicorn in a thread, and a
fake OpenAI-compatible upstream whose latency, errors and streams the test controls."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from bandit_router.demo.loopback import LoopbackServer


# Any ASGI app on a free loopback port, in a thread: the same server the demo runs.
ServerThread = LoopbackServer


@dataclass
class Behaviour:
    """What the fake upstream does with the next requests."""

    status: int = 200
    fail_times: int | None = None  # with an error status: fail this many times, then answer
    retry_after: str | None = None
    latency_s: float = 0.0  # before the answer (a stream: before its first bytes)
    chunks: int = 4  # content chunks of a stream
    chunk_delay_s: float = 0.0
    cut_after: int | None = None  # a stream: drop the connection after this many chunks
    usage: tuple[int, int] | None = (12, 4)  # prompt and completion tokens; None = omit usage
    content: str | None = None  # the answer's text (a stream: split into words); None = default
    finish_reason: str = "stop"


@dataclass
class Seen:
    body: dict[str, Any]
    headers: dict[str, str]


class FakeUpstream:
    """An OpenAI-compatible ``POST /v1/chat/completions`` (JSON and SSE) named ``name``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.behaviour = Behaviour()
        self.requests: list[Seen] = []
        self.server = ServerThread(Starlette(routes=[
            Route("/v1/chat/completions", self._chat, methods=["POST"])]))

    @property
    def base_url(self) -> str:
        return self.server.url + "/v1"

    def start(self) -> "FakeUpstream":
        self.server.start()
        return self

    def answer_text(self) -> str:
        if self.behaviour.content is not None:
            return self.behaviour.content
        return " ".join(f"tok{i}" for i in range(self.behaviour.chunks))

    async def _chat(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(Seen(body, dict(request.headers)))
        b = self.behaviour
        if b.latency_s:
            await asyncio.sleep(b.latency_s)
        if b.status != 200 and (b.fail_times is None or b.fail_times > 0):
            if b.fail_times is not None:
                b.fail_times -= 1
            headers = {"retry-after": b.retry_after} if b.retry_after else {}
            return JSONResponse({"error": {"message": f"{self.name} is failing", "type": "server_error",
                                           "code": None}}, status_code=b.status, headers=headers)
        # Like OpenAI's API: every answer carries the upstream's own x-request-id.
        ids = {"x-upstream": self.name, "x-request-id": f"req_{self.name}_{len(self.requests)}"}
        if body.get("stream"):
            return StreamingResponse(self._events(body), media_type="text/event-stream",
                                     headers=ids)
        doc = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": body["model"],
               "choices": [{"index": 0, "finish_reason": b.finish_reason,
                            "message": {"role": "assistant", "content": (
                                f"answer from {self.name}" if b.content is None else b.content)}}]}
        if b.usage:
            doc["usage"] = {"prompt_tokens": b.usage[0], "completion_tokens": b.usage[1],
                            "total_tokens": sum(b.usage)}
        return JSONResponse(doc, headers=ids)

    async def _events(self, body: dict[str, Any]):
        b = self.behaviour

        # Asked for usage, OpenAI's API puts "usage": null in every chunk before the last.
        asked = bool((body.get("stream_options") or {}).get("include_usage"))

        def event(choices: list, **extra) -> bytes:
            doc = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
                   "model": body["model"], "choices": choices,
                   **({"usage": None} if asked else {}), **extra}
            return b"data: " + json.dumps(doc).encode() + b"\n\n"

        words = (b.content.split(" ") if b.content is not None
                 else [f"tok{i}" for i in range(b.chunks)])
        for i, word in enumerate(words):
            if b.cut_after is not None and i >= b.cut_after:
                raise ConnectionAbortedError("the fake upstream drops the stream mid-way")
            if b.chunk_delay_s:
                await asyncio.sleep(b.chunk_delay_s)
            last = i == len(words) - 1
            yield event([{"index": 0, "delta": {"content": word + ("" if last else " ")},
                          "finish_reason": b.finish_reason if last else None}])
        if (body.get("stream_options") or {}).get("include_usage") and b.usage:
            yield event([], usage={"prompt_tokens": b.usage[0], "completion_tokens": b.usage[1],
                                   "total_tokens": sum(b.usage)})
        yield b"data: [DONE]\n\n"


@dataclass
class Recorder:
    """A loopback server that remembers every request and answers ``reply`` with ``status``;
    ``script`` holds (status, headers) answers to give first, one per request."""

    reply: Any = field(default_factory=dict)
    status: int = 200
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    seen: list[dict[str, Any]] = field(default_factory=list)

    def app(self):
        async def handle(request: Request) -> Response:
            raw = await request.body()
            self.seen.append({"method": request.method, "path": request.url.path,
                              "headers": dict(request.headers), "at": time.monotonic(),
                              "json": json.loads(raw) if raw else None})
            status, headers = self.script.pop(0) if self.script else (self.status, {})
            if status == 204:
                return Response(status_code=204)
            body = self.reply if status < 400 else {"detail": f"scripted {status}"}
            return JSONResponse(body, status_code=status, headers=headers)

        return Starlette(routes=[Route("/{path:path}", handle,
                                       methods=["GET", "POST", "PUT", "DELETE"])])
