"""A small HTTP/1.1 load generator (asyncio streams, keep-alive), run as its own process:

    python -m benchmarks.loadgen PLAN.json > RESULT.json

The plan lists phases; each sends ``route`` or ``feedback`` requests either open-loop at a
fixed offered rate (latency measured from the scheduled send time, so a stalled server
cannot hide its queueing: no coordinated omission) or closed-loop from N connections as
fast as the server answers (saturation). Feedback phases use decision ids from earlier
route phases. Every non-2xx answer and every socket error is counted.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit


class Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.closing = False  # the server answered "Connection: close": not to be reused

    @classmethod
    async def open(cls, host: str, port: int) -> "Conn":
        r, w = await asyncio.open_connection(host, port)
        return cls(r, w)

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
            elif line[:11].lower() == b"connection:" and b"close" in line[11:].lower():
                self.closing = True  # as an HTTP client does: reconnect for the next request
        body = await self.reader.readexactly(length) if length else b""
        return status, body

    def close(self) -> None:
        self.writer.close()


@contextmanager
def no_gc() -> Iterator[None]:
    """No garbage collection while load is measured: a load process records every latency,
    and its own full collections grow with them and would stall it for 100s of ms, counted
    as server latency."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def post_bytes(host: str, path: str, key: str, body: bytes) -> bytes:
    """A whole HTTP/1.1 POST of a JSON ``body`` with a bearer key, ready to write."""
    return (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body


class Pool:
    """Keep-alive connections to one server, at most ``size`` in use at once: beyond it,
    requests wait for a free one."""

    def __init__(self, host: str, port: int, size: int = 256) -> None:
        self.host, self.port = host, port
        self.idle: list[Conn] = []
        self.slots = asyncio.Semaphore(size)

    async def send(self, raw: bytes, timeout: float | None = None) -> tuple[int, bytes]:
        async with self.slots:
            reused = bool(self.idle)
            conn = self.idle.pop() if reused else await Conn.open(self.host, self.port)
            try:
                status, body = await asyncio.wait_for(conn.request(raw), timeout)
            except (ConnectionResetError, asyncio.IncompleteReadError) as exc:
                conn.close()
                # The server closed an idle keep-alive connection (uvicorn does after 5 s)
                # before reading this request: retry once on a new one, as HTTP clients do.
                if not reused or getattr(exc, "partial", b""):
                    raise
                conn = await Conn.open(self.host, self.port)
                status, body = await asyncio.wait_for(conn.request(raw), timeout)
            except BaseException:
                conn.close()
                raise
            if conn.closing:
                conn.close()
            else:
                self.idle.append(conn)
        return status, body

    def close(self) -> None:
        for conn in self.idle:
            conn.close()


class Runner:
    def __init__(self, base: str, key: str, prompts: list[str]) -> None:
        u = urlsplit(base)
        self.host, self.port = u.hostname, u.port
        self.key = key
        self.route_bodies = [post_bytes(self.host, "/v1/route", key,
                                        json.dumps({"prompt": p}).encode()) for p in prompts]
        self.decisions: list[str] = []
        self.next_feedback = 0
        self.routed: list[str] = []  # decision ids answered 200
        self.acknowledged: list[str] = []  # decision ids whose feedback got a 2xx
        # Requests waiting for a free connection still count their latency from the
        # scheduled time.
        self.pool = Pool(self.host, self.port, size=256)

    def _body(self, kind: str, i: int) -> bytes | None:
        if kind == "route":
            return self.route_bodies[i % len(self.route_bodies)]
        if self.next_feedback >= len(self.decisions):
            return None
        d = self.decisions[self.next_feedback]
        self.next_feedback += 1
        body = json.dumps({"decision_id": d, "reward": 1.0 if i % 3 else 0.0,
                           "latency_ms": 100.0 + i % 50}).encode()
        return post_bytes(self.host, "/v1/feedback", self.key, body)

    async def _one(self, kind: str, raw: bytes, stats: dict, t_sched: float) -> None:
        try:
            status, body = await self.pool.send(raw)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            name = type(exc).__name__
            stats["errors"][name] = stats["errors"].get(name, 0) + 1
            return
        stats["latency"].append(time.perf_counter() - t_sched)
        stats["sent_at"].append(t_sched)
        code = str(status)
        stats["status"][code] = stats["status"].get(code, 0) + 1
        if kind == "route" and status == 200:
            self.decisions.append(json.loads(body)["decision_id"])
            self.routed.append(self.decisions[-1])
        elif kind == "feedback" and 200 <= status < 300:
            self.acknowledged.append(json.loads(body)["decision_id"])

    async def open_loop(self, kind: str, rate: float, seconds: float) -> dict:
        stats = {"latency": [], "sent_at": [], "status": {}, "errors": {}}
        n = int(rate * seconds)
        t0 = time.perf_counter() + 0.05
        tasks = []
        for i in range(n):
            raw = self._body(kind, i)
            if raw is None:
                break
            t_sched = t0 + i / rate
            delay = t_sched - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(self._one(kind, raw, stats, t_sched)))
        # An overloaded server would keep this phase going for minutes: give the backlog a
        # bounded time, then count what is still unanswered as errors.
        done, pending = await asyncio.wait(tasks, timeout=max(10.0, seconds)) if tasks else ((), ())
        for t in pending:
            t.cancel()
        if pending:
            stats["errors"]["unanswered_at_phase_end"] = len(pending)
        return self._summary(kind, "open", stats, time.perf_counter() - t0, rate=rate)

    async def closed_loop(self, kind: str, connections: int, seconds: float) -> dict:
        stats = {"latency": [], "sent_at": [], "status": {}, "errors": {}}
        t0 = time.perf_counter()
        end = t0 + seconds
        counter = iter(range(10**9))

        async def worker() -> None:
            while time.perf_counter() < end:
                raw = self._body(kind, next(counter))
                if raw is None:
                    return
                await self._one(kind, raw, stats, time.perf_counter())

        await asyncio.gather(*(worker() for _ in range(connections)))
        return self._summary(kind, "saturation", stats, time.perf_counter() - t0,
                             connections=connections)

    @staticmethod
    def _summary(kind: str, mode: str, stats: dict, seconds: float, **extra) -> dict:
        lat = sorted(stats["latency"])
        ok = sum(v for k, v in stats["status"].items() if k.startswith("2"))

        def q(p: float) -> float | None:
            return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1e3, 3) if lat else None

        # p99 of each second of the phase (by send time): shows whether the tail is spread
        # out or comes from a few stalls.
        by_second: dict[int, list[float]] = {}
        start = min(stats["sent_at"], default=0.0)
        for sent, latency in zip(stats["sent_at"], stats["latency"]):
            by_second.setdefault(int(sent - start), []).append(latency)
        p99_by_second = [round(sorted(v)[int(0.99 * len(v))] * 1e3, 1)
                         for _, v in sorted(by_second.items())]
        # started_at: time.perf_counter(), which is CLOCK_MONOTONIC on Linux, as
        # time.monotonic() in other processes (benchmarks/balance.py lines seconds up by it).
        return {"endpoint": kind, "mode": mode, **extra, "seconds": round(seconds, 2),
                "started_at": start,
                "requests": len(lat), "ok": ok, "throughput_rps": round(ok / seconds, 1),
                "status": stats["status"], "socket_errors": stats["errors"],
                "errors": len(lat) - ok + sum(stats["errors"].values()),
                "latency_ms": {"p50": q(0.50), "p90": q(0.90), "p99": q(0.99),
                               "max": round(lat[-1] * 1e3, 3) if lat else None},
                "p99_ms_by_second": p99_by_second}


async def main(plan: dict) -> dict:
    runner = Runner(plan["base"], plan["key"], plan["prompts"])
    runner.decisions = list(plan.get("decision_ids") or [])
    out = []
    for phase in plan["phases"]:
        with no_gc():
            if phase["mode"] == "open":
                res = await runner.open_loop(phase["endpoint"], phase["rate"], phase["seconds"])
            else:
                res = await runner.closed_loop(phase["endpoint"], phase["connections"],
                                               phase["seconds"])
        print(json.dumps(res), file=sys.stderr)
        out.append(res)
    return {"phases": out, "unused_decision_ids": runner.decisions[runner.next_feedback:],
            "routed": runner.routed, "acknowledged": runner.acknowledged}


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    with open(sys.argv[1]) as f:
        result = asyncio.run(main(json.load(f)))
    json.dump(result, sys.stdout)
