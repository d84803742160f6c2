"""Load for the proxy benchmark, run as its own process:

    python -m benchmarks.proxyload PLAN.json > RESULT.json

One phase: ``connections`` keep-alive connections post the plan's chat completion body to
``base + path`` as fast as the server answers, for ``requests`` requests in all or for
``seconds``. Each answer is read whole (``content-length`` or chunked, as a stream comes);
its latency, the time to its first body byte and its status are kept; every non-200 and
socket error counts as an error.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from urllib.parse import urlsplit

from benchmarks.loadgen import no_gc, post_bytes


class Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.closing = False

    async def request(self, raw: bytes) -> tuple[int, float, float]:
        """(status, seconds to the first body byte, seconds to the end)."""
        t0 = time.perf_counter()
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lower = head.lower()
        if b"transfer-encoding: chunked" in lower:
            first = None
            while True:
                size = int((await self.reader.readuntil(b"\r\n"))[:-2].split(b";")[0], 16)
                await self.reader.readexactly(size + 2)
                first = first or time.perf_counter()
                if size == 0:
                    break
        else:
            i = lower.find(b"content-length:")
            length = int(lower[i + 15:lower.find(b"\r\n", i)]) if i >= 0 else 0
            if length:
                await self.reader.readexactly(length)
            first = time.perf_counter()
        end = time.perf_counter()
        # The server answered "Connection: close" (bandit-router does every
        # BANDIT_ROUTER_MAX_REQUESTS_PER_CONNECTION answers): reconnect, as HTTP clients do.
        self.closing = b"\r\nconnection: close" in lower
        return status, first - t0, end - t0


async def phase(plan: dict) -> dict:
    u = urlsplit(plan["base"])
    raw = post_bytes(u.hostname, u.path.rstrip("/") + plan["path"], plan.get("key") or "none",
                     json.dumps(plan["body"]).encode())
    latency: list[float] = []
    first_byte: list[float] = []
    status: dict[str, int] = {}
    errors: dict[str, int] = {}
    budget = iter(range(plan.get("requests") or 10**9))
    t0 = time.perf_counter()
    end = t0 + plan.get("seconds", 1e9)

    async def worker() -> None:
        conn = None
        while time.perf_counter() < end and next(budget, None) is not None:
            try:
                if conn is None:
                    conn = Conn(*await asyncio.open_connection(u.hostname, u.port))
                code, first, total = await asyncio.wait_for(conn.request(raw), 30)
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError,
                    ValueError) as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                if conn is not None:
                    conn.writer.close()
                conn = None
                continue
            status[str(code)] = status.get(str(code), 0) + 1
            if conn.closing:
                conn.writer.close()
                conn = None
            if code == 200:
                latency.append(total)
                first_byte.append(first)
        if conn is not None:
            conn.writer.close()

    with no_gc():
        await asyncio.gather(*(worker() for _ in range(plan["connections"])))
    seconds = time.perf_counter() - t0
    return {"latency_s": latency, "first_byte_s": first_byte, "status": status,
            "socket_errors": errors, "seconds": seconds,
            "errors": sum(v for k, v in status.items() if k != "200") + sum(errors.values())}


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        json.dump(asyncio.run(phase(json.load(f))), sys.stdout)
