"""Forward one chat completion: decide, try the ranked models within a deadline, record.

Every model tried has its own logged decision: the policy's for the first, and for each
fallback a decision with propensity 1 and ``{"fallback_of": <first decision id>}`` in its
metadata. A model that fails gets ``error`` feedback (it settles the decision at no cost; it
is not learned as a reward, see ``store.posteriors.learned_rewards``) and counts in its
circuit breaker and ``bandit_router_upstream_failures_total``; the decision of the model that
answers is returned to the caller, whose reward attaches to it. What was measured (tokens,
cost, latency, every attempt) goes to the ``usage`` table.

Nothing here waits for the disk: decisions go to the service's batch writer (a tenant with a
budget excepted: its reservation is committed first), usage rows and failure feedback to
:class:`~bandit_router.proxy.records.Records`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, Callable

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from bandit_router import metrics
from bandit_router.routing.catalog import ModelSpec
from bandit_router.features import prompt_from_messages
from bandit_router.proxy.attempts import (DECISION_HEADER, MODEL_HEADER, Attempt, Call, ms,
                                          no_answer)
from bandit_router.proxy.circuit import CircuitBreakers, Ticket
from bandit_router.proxy.errors import ProxyError
from bandit_router.proxy.meter import Tokens, tokens_of_body
from bandit_router.proxy.pool import resolve_pool
from bandit_router.proxy.records import Records
from bandit_router.proxy.relay import Relay, RelayResponse
from bandit_router.proxy.transport import FAILURES, Reply, Upstreams, label_of
from bandit_router.proxy.upstream import (MissingApiKey, chat_url, is_model_failure,
                                          request_body, request_headers, response_headers,
                                          retry_after_s)
from bandit_router.routing import RouteDecision, RouteRequest
from bandit_router.service import Service
from bandit_router.store.decisions import Outcome

log = logging.getLogger(__name__)
# Longer prompts are featurised in the thread pool so that one cannot stall the event loop.
_INLINE_CHARS = 32_768


class Proxy:
    """The OpenAI-compatible forwarder of one process: its upstream client, its breakers
    and what it records."""

    def __init__(self, service: Service, clock: Callable[[], float] = time.monotonic) -> None:
        s = service.settings
        self.service = service
        self.settings = s
        self.breakers = CircuitBreakers(s.circuit_failure_threshold, s.circuit_cooldown_s, clock)
        self.upstreams = Upstreams(connect_timeout_s=s.proxy_connect_timeout_s)
        self.records = Records(service.sessions)
        self.clock = clock

    async def aclose(self) -> None:
        await self.records.aclose()
        await self.upstreams.aclose()

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
        call = self.call(body, tuple(candidates), tenant_id)
        first = await self.decide(call, call.request,
                                  {"proxy": {"requested_model": requested, "stream": call.stream}})
        decision, last = first, None
        for model in [first.model, *first.fallbacks]:
            if (len(call.attempts) >= self.settings.proxy_max_attempts
                    or self.clock() >= call.deadline):
                break
            ticket = self.breakers.acquire(model)
            if ticket is None:
                continue  # went into cooldown since the decision
            if model != first.model:
                decision = await self.decide(call, replace(call.request, candidates=(model,)),
                                             {"fallback_of": first.decision_id})
            answer = await self._try(call, decision, models[model], ticket)
            if answer is not None:
                return answer
            last = decision
        if last is not None:
            await self.record(call, last, models[last.model], "error", None,
                              error="no model answered")
        raise no_answer(requested, call.attempts, last, self.settings.proxy_deadline_s)

    def call(self, body: dict[str, Any], candidates: tuple[str, ...],
             tenant_id: str | None) -> Call:
        return Call.of(body, RouteRequest(
            prompt=prompt_from_messages(body["messages"]), candidates=candidates,
            expected_output_tokens=body.get("max_completion_tokens") or body.get("max_tokens"),
            metadata=body["metadata"] if isinstance(body.get("metadata"), dict) else None),
            tenant_id, self.clock() + self.settings.proxy_deadline_s)

    async def _try(self, call: Call, decision: RouteDecision, spec: ModelSpec,
                   ticket: Ticket) -> Response | None:
        """One attempt; the answer to return, or None when the next model should be tried."""
        tried = await self.attempt(call, decision, spec, ticket)
        if tried is None:
            return None
        sent, attempt, t0 = tried
        headers = self.headers(sent, decision, spec)
        if sent.chunks is not None:
            attempt.first_byte_ms = attempt.latency_ms
            return RelayResponse(Relay(self, call, decision, spec, ticket, sent, t0), headers)
        # Answered, or the request itself is wrong (4xx): the model is healthy either way.
        self.breakers.report(ticket, True)
        ok = sent.status < 300
        tokens = tokens_of_body(sent.content, decision.input_tokens) if ok else None
        await self.record(call, decision, spec, "ok" if ok else "error", tokens,
                          error=None if ok else f"upstream answered {sent.status}")
        return Response(sent.content, status_code=sent.status, headers=headers)

    @staticmethod
    def headers(sent: Reply, decision: RouteDecision, spec: ModelSpec) -> dict[str, str]:
        return {**response_headers(sent.headers), DECISION_HEADER: decision.decision_id,
                MODEL_HEADER: spec.id}

    async def attempt(self, call: Call, decision: RouteDecision, spec: ModelSpec,
                      ticket: Ticket) -> tuple[Reply, Attempt, float] | None:
        """Send to one model: (what came, its attempt, start time), or None when the model gave
        no answer (recorded as its failure: breaker, metric, error feedback)."""
        t0 = self.clock()
        try:
            sent = await self._send(call, spec, timeout_s=min(
                call.deadline - t0, self.settings.proxy_attempt_timeout_s))
        except (*FAILURES, MissingApiKey) as exc:
            missing = isinstance(exc, MissingApiKey)
            attempt = Attempt(spec.id, decision.decision_id,
                              type(exc).__name__ if missing else label_of(exc),
                              ms(t0, self.clock()))
            call.attempts.append(attempt)
            # A missing key is this process's configuration, not the upstream's health: no
            # upstream was contacted, so trying it again costs nothing, and a cooldown would
            # only hide the cause behind "every model is in cooldown".
            self.breakers.report(ticket, None if missing else False)
            if missing:
                attempt.missing_key = exc.variable
                log.error("model %s: %s; trying the next model", spec.id, exc)
            self.failed(decision, attempt)
            return None
        attempt = Attempt(spec.id, decision.decision_id, sent.status, ms(t0, self.clock()))
        call.attempts.append(attempt)
        if is_model_failure(sent.status):
            self.breakers.report(ticket, False)
            attempt.retry_after_s = retry_after_s(sent.headers)
            self.failed(decision, attempt)
            return None
        return sent, attempt, t0

    async def _send(self, call: Call, spec: ModelSpec, *, timeout_s: float) -> Reply:
        """POST to the upstream; for a 200 stream, wait for its first bytes too."""
        if timeout_s <= 0:
            raise TimeoutError
        headers = request_headers(spec)
        body = request_body(call.body, spec, want_usage=call.want_usage)
        with anyio.fail_after(timeout_s):
            return await self.upstreams.post(
                chat_url(spec), headers, body, stream=call.stream,
                connect_timeout_s=min(self.settings.proxy_connect_timeout_s, timeout_s))

    # -- decisions and records ----------------------------------------------------------
    async def decide(self, call: Call, request: RouteRequest,
                     metadata: dict[str, Any]) -> RouteDecision:
        """The policy's decision, logged by the service's batch writer (no disk wait) unless
        the tenant's budget needs its reservation committed first."""
        try:
            if (self.service.routes_in_memory(call.tenant_id)
                    and len(request.prompt) <= _INLINE_CHARS):
                return self.service.route(request, tenant_id=call.tenant_id, metadata=metadata,
                                          batched=True)
            return await run_in_threadpool(self.service.route, request, tenant_id=call.tenant_id,
                                           metadata=metadata, batched=True)
        except Exception as exc:
            error = ProxyError.of(exc)
            if error is None:
                raise
            if error.status >= 500:
                log.error("no decision for a proxied request: %s", error.problem.message)
            raise error from None

    def failed(self, decision: RouteDecision, attempt: Attempt) -> None:
        """Record that this model gave no answer: the failure metric now, and (in the
        background, not delaying the next model) error feedback, which settles the decision
        but is not learned as a reward (no answer came, so there is no quality to judge).
        The breaker has been told by the caller."""
        metrics.UPSTREAM_FAILURES.labels(model=attempt.model, reason=str(attempt.status)).inc()
        # cost 0: upstreams do not bill failed calls, and the tenant's budget must not either.
        outcome = Outcome(error=f"proxy: upstream of {attempt.model} failed ({attempt.status})",
                          latency_ms=attempt.latency_ms, cost_usd=0.0)
        self.records.later(self.feedback(decision.decision_id, outcome))

    async def feedback(self, decision_id: str, outcome: Outcome) -> None:
        """The proxy's own feedback on a decision, after its usage row is committed (the
        charge reads it); a failure is logged, never raised: the answer matters more."""
        try:
            await self.records.recorded(decision_id)
            await self.service.feedback_async(decision_id, outcome)
        except Exception:
            log.exception("could not record the feedback of decision %s", decision_id)

    async def record(self, call: Call, decision: RouteDecision, spec: ModelSpec, status: str,
                     tokens: Tokens | None, *, error: str | None = None) -> None:
        last = call.attempts[-1]
        if tokens is not None:
            last.usage = tokens.source
        await self.records.usage(dict(
            decision_id=decision.decision_id, recorded_at=datetime.now(timezone.utc),
            model_id=spec.id, status=status, error=error, latency_ms=last.latency_ms,
            input_tokens=tokens.input if tokens else None,
            output_tokens=tokens.output if tokens else None,
            cost_usd=spec.cost_usd(tokens.input, tokens.output) if tokens else None,
            attempts=[a.as_json() for a in call.attempts]))
