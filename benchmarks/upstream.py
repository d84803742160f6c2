"""A fast fake OpenAI-compatible upstream for the proxy benchmark, run as its own process:

    python -m benchmarks.upstream PORT

``POST …/chat/completions`` answers a fixed chat completion with ``usage`` (JSON), or with
``"stream": true`` five SSE chunks, the usage chunk when ``stream_options.include_usage`` is
asked, and ``data: [DONE]``. It carries an ``x-request-id`` as OpenAI's API does. Plain
asyncio protocol, HTTP/1.1 keep-alive: it costs far less CPU per call than any proxy in front
of it, so what a proxy adds is what the benchmark sees.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import sys

_IDS = itertools.count()
_LENGTH = re.compile(rb"(?i)\r\ncontent-length:\s*(\d+)")
_ANSWER = json.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 1764547200,
    "model": "bench-upstream",
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "Hello! How can I help you today?"}}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21},
}).encode()


def _chunk(delta: dict, finish: str | None = None, usage: dict | None = None) -> bytes:
    doc = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1764547200,
           "model": "bench-upstream",
           "choices": [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if usage:
        doc["usage"] = usage
    data = b"data: " + json.dumps(doc).encode() + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(data), data)


_STREAM = b"".join([_chunk({"role": "assistant", "content": ""}),
                    *(_chunk({"content": w}) for w in ("Hello", "!", " How", " can", " I")),
                    _chunk({}, "stop")])
_USAGE = _chunk({}, usage={"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17})
_DONE = b"e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n"


class Upstream(asyncio.Protocol):
    def connection_made(self, transport) -> None:
        self.transport, self.buffer = transport, b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            m = _LENGTH.search(self.buffer, 0, end)
            length = int(m.group(1)) if m else 0
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4:end + 4 + length]
            self.buffer = self.buffer[end + 4 + length:]
            self._answer(body)

    def _answer(self, body: bytes) -> None:
        rid = b"req_%d" % next(_IDS)
        if b'"stream":true' in body.replace(b" ", b""):
            usage = _USAGE if b'"include_usage":true' in body.replace(b" ", b"") else b""
            self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                                 b"x-request-id: " + rid + b"\r\n"
                                 b"transfer-encoding: chunked\r\n\r\n" + _STREAM + usage + _DONE)
            return
        self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                             b"x-request-id: " + rid + b"\r\n"
                             b"content-length: %d\r\n\r\n%s" % (len(_ANSWER), _ANSWER))


async def main(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(Upstream, "127.0.0.1", port,
                                                            backlog=1024)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
