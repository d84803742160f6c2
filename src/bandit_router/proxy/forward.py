"""Forward one chat completion: decide, try the ranked models within a deadline, record.

Every model tried has its own logged decision: the policy's for the first, and for each
fallback a decision with propensity 1 and ``{"fallback_of": <first decision id>}`` in its
metadata. A model that fails gets ``error`` feedback at once (it settles the decision at no
cost; it is not learned as a reward, see ``store.posteriors.learned_rewards``) and counts in
its circuit breaker and ``bandit_router_upstream_failures_total``; the decision of the model
that answers is returned to the caller, whose reward attaches to it.
What was measured (tokens, cost, latency, every attempt) goes to the ``usage`` table.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, AsyncIterator, Callable

import anyio
import httpx
from sqlalchemy.exc import DBAPIError
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from bandit_router import metrics
from bandit_router.routing.catalog import ModelSpec
from bandit_router.features import prompt_from_messages
from bandit_router.proxy.circuit import CircuitBreakers, Ticket
from bandit_router.proxy.errors import ProxyError
from bandit_router.proxy.meter import StreamMeter, Tokens, tokens_of_body
from bandit_router.proxy.upstream import (
    MissingApiKey,
    chat_url,
    is_model_failure,
    request_body,
    request_headers,
    response_headers,
    retry_after_s,
)
from bandit_router.routing import (
    BudgetExhausted,
    NoModels,
    NothingFits,
    RouteDecision,
    RouteRequest,
    RuleLeavesNothing,
    UnknownModels,
)
from bandit_router.service import Service
from bandit_router.store.db import transaction
from bandit_router.store.decisions import Outcome
from bandit_router.store.schema import UsageRow
from bandit_router.store.usage import record_usage

log = logging.getLogger(__name__)

DECISION_HEADER = "x-bandit-router-decision-id"
MODEL_HEADER = "x-bandit-router-model"
GROUP_PREFIX = "group:"


def resolve_pool(requested: str, models: dict[str, ModelSpec]) -> list[str]:
    """The models a request's ``model`` may go to: a registered id, ``auto`` (every model
    with a ``base_url``), or a route group ``group:<tag>`` / ``<tag>``."""
    if requested in models:
        if not models[requested].base_url:
            raise ProxyError(400, f"model {requested!r} has no base_url, so the proxy cannot "
                                  "forward to it; register it with one", code="model_not_forwardable",
                             param="model")
        return [requested]
    forwardable = {i: m for i, m in models.items() if m.base_url}
    if requested == "auto":
        pool = sorted(forwardable)
    else:
        tag = requested.removeprefix(GROUP_PREFIX)
        pool = sorted(i for i, m in forwardable.items() if tag in m.tags)
    if pool:
        return pool
    if not forwardable:
        raise _nothing_forwardable(requested, models)
    tags = sorted({t for m in forwardable.values() for t in m.tags})
    raise ProxyError(
        404, f"model {requested!r} does not exist: use \"auto\", a registered model with a "
             f"base_url ({', '.join(sorted(forwardable))}) or a route group "
             f"\"group:<tag>\" ({', '.join(tags) or 'no tags yet'})",
        code="model_not_found", param="model")


def _nothing_forwardable(requested: str, models: dict[str, ModelSpec]) -> ProxyError:
    """No registered model has a base_url: say so, instead of offering "auto" that fails too."""
    if models:
        why = (f"none of the registered models ({', '.join(sorted(models))}) has a base_url, so "
               "the proxy has nowhere to forward to; give one a base_url")
    else:
        why = "no model is registered yet; register one with a base_url"
    return ProxyError(
        503, f"cannot forward {requested!r}: {why} (PUT /v1/models/{{id}} with the operator key, "
             "or `bandit-router serve --models FILE`)",
        type="server_error", code="no_models", param="model", retry_after_s=5)


@dataclass
class Attempt:
    model: str
    decision_id: str
    status: int | str  # the upstream's HTTP status, or what went wrong before one came
    latency_ms: float
    first_byte_ms: float | None = None
    usage: str | None = None  # "upstream" or "estimated", on the answering attempt
    retry_after_s: float | None = None  # the upstream's Retry-After on a 429 or 503
    missing_key: str | None = None  # the api_key_env variable that is not set (its name)
    check: str | None = None  # a cascade's check: "pass", or why the answer failed it
    cost_usd: float | None = None  # a cascade attempt's measured cost

    def describe(self) -> str:
        return f"{self.model} ({self.missing_key} is not set)" if self.missing_key else (
            f"{self.model} ({self.status})")

    def as_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class _Sent:
    response: httpx.Response
    chunks: AsyncIterator[bytes] | None = None  # the rest of a 200 stream
    first: bytes = b""


@dataclass
class _Call:
    """One caller request on its way through the models."""

    body: dict[str, Any]
    stream: bool
    want_usage: bool
    request: RouteRequest
    tenant_id: str | None
    deadline: float
    attempts: list[Attempt] = field(default_factory=list)


def _ms(since: float, now: float) -> float:
    return round((now - since) * 1000.0, 3)


def _label(exc: BaseException) -> str:
    return "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__


class Proxy:
    """The OpenAI-compatible forwarder of one process: its HTTP client and its breakers."""

    def __init__(self, service: Service, client: httpx.AsyncClient | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        s = service.settings
        self.service = service
        self.settings = s
        self.breakers = CircuitBreakers(s.circuit_failure_threshold, s.circuit_cooldown_s, clock)
        self.client = client or httpx.AsyncClient(
            follow_redirects=False, limits=httpx.Limits(max_connections=1000,
                                                        max_keepalive_connections=200))
        self._clock = clock

    async def aclose(self) -> None:
        await self.client.aclose()

    # -- the request --------------------------------------------------------------------
    async def complete(self, body: dict[str, Any], *, tenant_id: str | None = None) -> Response:
        """Answer one OpenAI chat completion request; raises :class:`ProxyError`."""
        requested = body["model"]
        models = self.service.router.models
        pool = resolve_pool(requested, models)
        candidates = [m for m in pool if self.breakers.available(m)]
        if not candidates:
            raise ProxyError(
                503, f"every model for {requested!r} is in cooldown after repeated failures "
                     f"({', '.join(pool)}); retry after the Retry-After seconds",
                type="server_error", code="models_cooling_down",
                retry_after_s=self.breakers.retry_after(pool))
        stream = body.get("stream") is True
        call = _Call(
            body=body, stream=stream, tenant_id=tenant_id,
            want_usage=stream and "include_usage" not in (body.get("stream_options") or {}),
            request=RouteRequest(
                prompt=prompt_from_messages(body["messages"]), candidates=tuple(candidates),
                expected_output_tokens=body.get("max_completion_tokens") or body.get("max_tokens"),
                metadata=body["metadata"] if isinstance(body.get("metadata"), dict) else None),
            deadline=self._clock() + self.settings.proxy_deadline_s,
        )
        first = await self._decide(call, call.request,
                                   {"proxy": {"requested_model": requested, "stream": stream}})
        decision, last = first, None
        for model in [first.model, *first.fallbacks]:
            if (len(call.attempts) >= self.settings.proxy_max_attempts
                    or self._clock() >= call.deadline):
                break
            ticket = self.breakers.acquire(model)
            if ticket is None:
                continue  # went into cooldown since the decision
            if model != first.model:
                decision = await self._decide(call, replace(call.request, candidates=(model,)),
                                              {"fallback_of": first.decision_id})
            answer = await self._try(call, decision, models[model], ticket)
            if answer is not None:
                return answer
            last = decision
        if last is not None:
            await self._record(call, last, models[last.model], "error", None,
                               error="no model answered")
        raise self._no_answer(requested, call.attempts, last)

    async def _try(self, call: _Call, decision: RouteDecision, spec: ModelSpec,
                   ticket: Ticket) -> Response | None:
        """One attempt; the answer to return, or None when the next model should be tried."""
        tried = await self._attempt(call, decision, spec, ticket)
        if tried is None:
            return None
        sent, attempt, t0 = tried
        status = sent.response.status_code
        headers = {**response_headers(sent.response.headers), DECISION_HEADER: decision.decision_id,
                   MODEL_HEADER: spec.id}
        if sent.chunks is not None:
            attempt.first_byte_ms = attempt.latency_ms
            relay = _Relay(self, call, decision, spec, ticket, sent, t0)
            return _RelayResponse(relay, headers)
        # Answered, or the request itself is wrong (4xx): the model is healthy either way.
        self.breakers.report(ticket, True)
        ok = status < 300
        tokens = tokens_of_body(sent.response.content, decision.input_tokens) if ok else None
        await self._record(call, decision, spec, "ok" if ok else "error", tokens,
                           error=None if ok else f"upstream answered {status}")
        return Response(sent.response.content, status_code=status, headers=headers)

    async def _attempt(self, call: _Call, decision: RouteDecision, spec: ModelSpec,
                       ticket: Ticket) -> tuple[_Sent, Attempt, float] | None:
        """Send to one model: (what came, its attempt, start time), or None when the model gave
        no answer (recorded as its failure: breaker, metric, error feedback)."""
        t0 = self._clock()
        try:
            sent = await self._send(call, spec, timeout_s=min(
                call.deadline - t0, self.settings.proxy_attempt_timeout_s))
        except (httpx.HTTPError, TimeoutError, MissingApiKey) as exc:
            attempt = Attempt(spec.id, decision.decision_id, _label(exc), _ms(t0, self._clock()))
            call.attempts.append(attempt)
            # A missing key is this process's configuration, not the upstream's health: no
            # upstream was contacted, so trying it again costs nothing, and a cooldown would
            # only hide the cause behind "every model is in cooldown".
            self.breakers.report(ticket, None if isinstance(exc, MissingApiKey) else False)
            if isinstance(exc, MissingApiKey):
                attempt.missing_key = exc.variable
                log.error("model %s: %s; trying the next model", spec.id, exc)
            await self._failed(decision, attempt)
            return None
        status = sent.response.status_code
        attempt = Attempt(spec.id, decision.decision_id, status, _ms(t0, self._clock()))
        call.attempts.append(attempt)
        if is_model_failure(status):
            self.breakers.report(ticket, False)
            attempt.retry_after_s = retry_after_s(sent.response.headers)
            await self._failed(decision, attempt)
            return None
        return sent, attempt, t0

    async def _send(self, call: _Call, spec: ModelSpec, *, timeout_s: float) -> _Sent:
        """POST to the upstream; for a 200 stream, wait for its first bytes too."""
        if timeout_s <= 0:
            raise TimeoutError
        req = self.client.build_request(
            "POST", chat_url(spec), headers=request_headers(spec),
            content=request_body(call.body, spec, want_usage=call.want_usage),
            # fail_after below bounds the whole attempt; httpx bounds only the connect.
            timeout=httpx.Timeout(None, connect=min(self.settings.proxy_connect_timeout_s,
                                                    timeout_s)))
        with anyio.fail_after(timeout_s):
            response = await self.client.send(req, stream=True)
            sent = _Sent(response)
            try:
                if call.stream and response.status_code == 200:
                    chunks = response.aiter_bytes()
                    sent.first = await anext(chunks, b"")
                    sent.chunks = chunks
                else:
                    await response.aread()
            finally:
                if sent.chunks is None:  # nothing more will be read from it
                    with anyio.CancelScope(shield=True):
                        await response.aclose()
        return sent

    # -- decisions and records ----------------------------------------------------------
    async def _decide(self, call: _Call, request: RouteRequest,
                      metadata: dict[str, Any]) -> RouteDecision:
        try:
            return await run_in_threadpool(self.service.route, request,
                                           tenant_id=call.tenant_id, metadata=metadata)
        except NothingFits as exc:
            raise ProxyError(400, str(exc), code="context_length_exceeded",
                             param="messages") from None
        except RuleLeavesNothing as exc:
            raise ProxyError(422, str(exc), code="no_candidate_left", param="model") from None
        except UnknownModels as exc:  # retired between the line-up read and the decision
            raise ProxyError(404, str(exc), code="model_not_found", param="model") from None
        except BudgetExhausted as exc:
            raise ProxyError(429, str(exc), type="insufficient_quota", code="budget_exhausted",
                             retry_after_s=exc.retry_after_s) from None
        except NoModels as exc:
            raise ProxyError(503, str(exc), type="server_error", code="no_models",
                             retry_after_s=5) from None
        except DBAPIError:
            log.error("database unavailable while logging a proxy decision")
            raise ProxyError(503, "the database is unavailable; nothing was forwarded, retry later",
                             type="server_error", code="database_unavailable",
                             retry_after_s=2) from None

    async def _failed(self, decision: RouteDecision, attempt: Attempt) -> None:
        """Record that this model gave no answer: error feedback, which settles the decision
        but is not learned as a reward (no answer came, so there is no quality to judge), and
        the failure metric. The breaker has been told by the caller."""
        metrics.UPSTREAM_FAILURES.labels(model=attempt.model, reason=str(attempt.status)).inc()
        # cost 0: upstreams do not bill failed calls, and the tenant's budget must not either.
        outcome = Outcome(error=f"proxy: upstream of {attempt.model} failed ({attempt.status})",
                          latency_ms=attempt.latency_ms, cost_usd=0.0)
        try:
            await run_in_threadpool(self.service.feedback, decision.decision_id, outcome)
        except Exception:  # the answer matters more than this record; say so loudly
            log.exception("could not record the failure of decision %s", decision.decision_id)

    async def _record(self, call: _Call, decision: RouteDecision, spec: ModelSpec, status: str,
                      tokens: Tokens | None, *, error: str | None = None) -> None:
        last = call.attempts[-1]
        if tokens is not None:
            last.usage = tokens.source
        row = UsageRow(
            decision_id=decision.decision_id, recorded_at=datetime.now(timezone.utc),
            model_id=spec.id, status=status, error=error, latency_ms=last.latency_ms,
            input_tokens=tokens.input if tokens else None,
            output_tokens=tokens.output if tokens else None,
            cost_usd=spec.cost_usd(tokens.input, tokens.output) if tokens else None,
            attempts=[a.as_json() for a in call.attempts],
        )
        try:
            await run_in_threadpool(self._store_usage, row)
        except Exception:
            log.exception("could not record usage of decision %s", decision.decision_id)

    def _store_usage(self, row: UsageRow) -> None:
        with transaction(self.service.sessions) as s:
            record_usage(s, row)

    def _no_answer(self, requested: str, attempts: list[Attempt],
                   last: RouteDecision | None) -> ProxyError:
        headers = {DECISION_HEADER: last.decision_id, MODEL_HEADER: last.model} if last else {}
        tried = ", ".join(a.describe() for a in attempts)
        if not attempts:
            return ProxyError(504, f"no model for {requested!r} could be tried within the "
                                   f"deadline of {self.settings.proxy_deadline_s:g} s",
                              type="server_error", code="upstream_timeout", headers=headers)
        if all(a.status == 429 for a in attempts):
            waits = [a.retry_after_s for a in attempts if a.retry_after_s is not None]
            return ProxyError(429, f"every model tried is rate-limited: {tried}",
                              type="rate_limit_error", code="rate_limit_exceeded",
                              retry_after_s=min(waits, default=1.0), headers=headers)
        timed_out = attempts[-1].status in ("timeout", "ConnectTimeout")
        return ProxyError(
            504 if timed_out else 502,
            f"no model answered: {tried}. " + (_missing_key_hint(attempts) or
                                               "The failures were recorded; retry later."),
            type="server_error", code="upstream_timeout" if timed_out else "upstream_error",
            headers=headers)


def _missing_key_hint(attempts: list[Attempt]) -> str | None:
    """How to fix upstream keys that are not set, naming the variables."""
    names = sorted({a.missing_key for a in attempts if a.missing_key})
    if not names:
        return None
    example = " ".join(f"{n}=…" for n in names)
    return (f"Set {' and '.join(names)} in the environment of the bandit-router server (e.g. "
            f"`{example} bandit-router serve …`; each model's api_key_env names its variable), "
            "or register models whose base_url you can reach. `bandit-router demo` shows the "
            "proxy working with no key at all.")


class _Relay:
    """Passes one upstream stream through to the caller and records it when it ends."""

    def __init__(self, proxy: Proxy, call: _Call, decision: RouteDecision, spec: ModelSpec,
                 ticket: Ticket, sent: _Sent, started: float) -> None:
        self.proxy, self.call, self.decision, self.spec = proxy, call, decision, spec
        self.ticket, self.sent, self.started = ticket, sent, started
        self.meter = StreamMeter(drop_usage_chunk=call.want_usage)
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
                    chunk = await anext(self.sent.chunks, None)  # type: ignore[arg-type]
            out = self.meter.flush()
            if out:
                yield out
            if not self.meter.done:
                self.failure = "the upstream ended the stream without data: [DONE]"
        except (httpx.HTTPError, TimeoutError) as exc:
            self.failure = f"the upstream stream broke off ({_label(exc)})"
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
        await self.sent.response.aclose()
        status = ("incomplete" if self.failure is not None
                  else "ok" if self.finished else "cancelled")
        self.proxy.breakers.report(self.ticket, {"ok": True, "incomplete": False}.get(status))
        if status == "incomplete":
            metrics.UPSTREAM_FAILURES.labels(model=self.spec.id, reason="stream_incomplete").inc()
        self.call.attempts[-1].latency_ms = _ms(self.started, self.proxy._clock())
        error = self.failure if status == "incomplete" else (
            "the caller disconnected before the end" if status == "cancelled" else None)
        await self.proxy._record(self.call, self.decision, self.spec, status,
                                 self.meter.tokens(self.decision.input_tokens), error=error)


class _RelayResponse(StreamingResponse):
    """A stream whose relay records its outcome however it ends, the caller gone included."""

    def __init__(self, relay: _Relay, headers: dict[str, str]) -> None:
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
