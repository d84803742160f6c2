"""A streamed answer passed through to the caller as it comes, recorded however it ends:
``ok``, ``incomplete`` (the upstream cut it) or ``cancelled`` (the caller went away)."""

from __future__ import annotations

from typing import TYPE_CHECKING, AsyncIterator

import anyio
from starlette.requests import ClientDisconnect
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from bandit_router import metrics
from bandit_router.routing.catalog import ModelSpec
from bandit_router.proxy.attempts import Call, ms
from bandit_router.proxy.circuit import Ticket
from bandit_router.proxy.errors import ProxyError
from bandit_router.proxy.meter import StreamMeter
from bandit_router.proxy.transport import FAILURES, Reply, label_of
from bandit_router.routing import RouteDecision

if TYPE_CHECKING:
    from bandit_router.proxy.forward import Proxy


class Relay:
    """Passes one upstream stream through to the caller and records it when it ends."""

    def __init__(self, proxy: "Proxy", call: Call, decision: RouteDecision, spec: ModelSpec,
                 ticket: Ticket, sent: Reply, started: float) -> None:
        self.proxy, self.call, self.decision, self.spec = proxy, call, decision, spec
        self.ticket, self.sent, self.started = ticket, sent, started
        self.meter = StreamMeter(drop_usage_chunk=call.want_usage,
                                 drop_null_usage=call.want_usage)
        self.failure: str | None = None
        self.finished = False
        self.recorded = False
        self.body = self._body()

    async def _body(self) -> AsyncIterator[bytes]:
        idle = self.proxy.settings.proxy_stream_idle_timeout_s
        chunk: bytes | None = self.sent.first
        try:
            while chunk is not None:
                out = self.meter.feed(chunk)
                if out:
                    yield out
                with anyio.fail_after(idle):
                    chunk = await self.sent.next_chunk()
            out = self.meter.flush()
            if out:
                yield out
            if not self.meter.done:
                self.failure = "the upstream ended the stream without data: [DONE]"
        except FAILURES as exc:
            self.failure = f"the upstream stream broke off ({label_of(exc)})"
        if self.failure is not None:
            yield ProxyError(502, self.failure + "; the answer is incomplete", type="upstream_error",
                             code="stream_incomplete").sse_event()
        self.finished = True

    async def finish(self) -> None:
        """Close the upstream and record: ok, incomplete (upstream cut) or cancelled (caller)."""
        if self.recorded:
            return
        self.recorded = True
        await self.body.aclose()
        self.sent.close()
        status = ("incomplete" if self.failure is not None
                  else "ok" if self.finished else "cancelled")
        self.proxy.breakers.report(self.ticket, {"ok": True, "incomplete": False}.get(status))
        if status == "incomplete":
            metrics.UPSTREAM_FAILURES.labels(model=self.spec.id, reason="stream_incomplete").inc()
        self.call.attempts[-1].latency_ms = ms(self.started, self.proxy.clock())
        error = self.failure if status == "incomplete" else (
            "the caller disconnected before the end" if status == "cancelled" else None)
        await self.proxy.record(self.call, self.decision, self.spec, status,
                                self.meter.tokens(self.decision.input_tokens), error=error)


class RelayResponse(StreamingResponse):
    """A stream whose relay records its outcome however it ends, the caller gone included."""

    def __init__(self, relay: Relay, headers: dict[str, str]) -> None:
        super().__init__(relay.body, status_code=200, headers=headers)
        self.relay = relay

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except (OSError, ClientDisconnect):
            pass  # the caller went away; finish() records the stream as cancelled
        finally:
            with anyio.CancelScope(shield=True):
                await self.relay.finish()
