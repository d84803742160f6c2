"""``model = "cascade:<name>"``: try the cascade's models cheap → dear, check each answer,
return the first that passes.

Every attempt is its own logged decision: the first is the policy's (over the whole chain
when the cascade's ``start`` is ``"bandit"``, else the first model with propensity 1), each
escalation a decision with the next model as its only candidate and
``{"cascade": {"name", "escalated_from"}}`` in its metadata. An answer that fails its check
gets feedback at once: its measured cost (so the budget pays for it) and, unless the
cascade's ``failure_reward`` is false, that reward, which the bandit learns from. An upstream
that gives no answer is handled as a proxy fallback (error feedback, not learned, circuit
breaker). The accepted answer's decision is returned in ``X-Bandit-Router-Decision-Id``; the
app's feedback applies to it. Streams are read to the end and checked before the caller gets
any byte; a check that cannot run on a stream (log-probabilities) refuses the request.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from typing import Any

import anyio
import httpx
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from bandit_router.routing.cascades import (CASCADE_PREFIX, Answer, Cascade, answer_of_completion,
                                    local_checks)
from bandit_router.routing.catalog import ModelSpec
from bandit_router.features import prompt_from_messages
from bandit_router.proxy.errors import ProxyError
from bandit_router.proxy.forward import DECISION_HEADER, MODEL_HEADER, Proxy, _Call, _label
from bandit_router.proxy.meter import StreamMeter, Tokens, tokens_of_body
from bandit_router.proxy.upstream import response_headers
from bandit_router.routing import RouteDecision, RouteRequest
from bandit_router.store.decisions import Outcome

log = logging.getLogger(__name__)
CASCADE_HEADER = "x-bandit-router-cascade"
CHAIN_HEADER = "x-bandit-router-chain"  # "model=pass|fail|error,…" in the order tried
CHECK_HEADER = "x-bandit-router-check"  # "passed", or "failed" when no model passed


def find_cascade(requested: str, proxy: Proxy) -> Cascade:
    name = requested.removeprefix(CASCADE_PREFIX)
    cascades = proxy.service.router.rules.cascades
    if name not in cascades:
        raise ProxyError(404, f"cascade {name!r} does not exist; defined: "
                              f"{', '.join(sorted(cascades)) or 'none'} (PUT /v1/cascades/{{name}} "
                              "or [[cascades]] in the models file)",
                         code="model_not_found", param="model")
    return cascades[name]


async def complete_cascade(proxy: Proxy, body: dict[str, Any], *,
                           tenant_id: str | None) -> Response:
    cascade = find_cascade(body["model"], proxy)
    models = proxy.service.router.models
    stream = body.get("stream") is True
    if stream and cascade.checks.min_mean_logprob is not None:
        raise ProxyError(400, f"cascade {cascade.name!r} checks log-probabilities, which this "
                              "proxy cannot check on a stream; send the request with "
                              "stream: false", param="stream", code="cascade_cannot_stream")
    chain = [m for m in cascade.models if m in models and models[m].base_url]
    missing = [m for m in cascade.models if m not in chain]
    if missing:
        raise ProxyError(400, f"cascade {cascade.name!r} names model(s) the proxy cannot forward "
                              f"to (retired or without base_url): {', '.join(missing)}",
                         code="model_not_forwardable", param="model")
    if cascade.checks.min_mean_logprob is not None and "logprobs" not in body:
        body = {**body, "logprobs": True}
    call = _Call(
        body=body, stream=stream, tenant_id=tenant_id,
        want_usage=stream and "include_usage" not in (body.get("stream_options") or {}),
        request=RouteRequest(
            prompt=prompt_from_messages(body["messages"]),
            candidates=tuple(chain) if cascade.start == "bandit" else (chain[0],),
            expected_output_tokens=body.get("max_completion_tokens") or body.get("max_tokens"),
            metadata=body["metadata"] if isinstance(body.get("metadata"), dict) else None),
        deadline=proxy._clock() + proxy.settings.proxy_deadline_s)
    meta = {"proxy": {"requested_model": body["model"], "stream": stream},
            "cascade": {"name": cascade.name, "escalated_from": None}}
    decision = await proxy._decide(call, call.request, meta)
    steps: list[str] = []
    last: tuple[RouteDecision, Response] | None = None
    for model in [decision.model, *cascade.after(decision.model)]:
        if proxy._clock() >= call.deadline:
            break
        if model != decision.model or steps:
            decision = await proxy._decide(
                call, replace(call.request, candidates=(model,)),
                {"cascade": {"name": cascade.name, "escalated_from": decision.decision_id}})
        result = await _attempt(proxy, call, cascade, decision, models[model])
        if result is None:  # no answer (the upstream failed): as a proxy fallback
            steps.append(f"{model}=error")
            continue
        verdict, response = result
        if verdict == "request_error":  # the request itself is wrong: the caller's to fix
            return response
        steps.append(f"{model}={verdict}")
        last = (decision, response)
        if verdict == "pass":
            break
    if last is None:
        raise proxy._no_answer(body["model"], call.attempts, None)
    decision, response = last
    response.headers[CASCADE_HEADER] = cascade.name
    response.headers[CHAIN_HEADER] = ",".join(steps)
    response.headers[CHECK_HEADER] = "passed" if steps[-1].endswith("=pass") else "failed"
    return response


async def _attempt(proxy: Proxy, call: _Call, cascade: Cascade, decision: RouteDecision,
                   spec: ModelSpec) -> tuple[str, Response] | None:
    """One model: its answer checked. ("pass" | "fail" | "request_error", the response to give
    the caller), or None when the model gave no answer."""
    ticket = proxy.breakers.acquire(spec.id)
    if ticket is None:
        return None
    tried = await proxy._attempt(call, decision, spec, ticket)
    if tried is None:
        return None
    sent, attempt, _ = tried
    status = sent.response.status_code
    try:
        content = sent.response.content if sent.chunks is None else await _drain(proxy, sent)
    except (httpx.HTTPError, TimeoutError) as exc:  # a stream broke off: no whole answer
        proxy.breakers.report(ticket, False)
        attempt.status = f"stream {_label(exc)}"
        await proxy._failed(decision, attempt)
        return None
    proxy.breakers.report(ticket, True)
    headers = {**response_headers(sent.response.headers), DECISION_HEADER: decision.decision_id,
               MODEL_HEADER: spec.id}
    if status >= 300:
        await proxy._record(call, decision, spec, "error", None,
                            error=f"upstream answered {status}")
        return "request_error", Response(content, status_code=status, headers=headers)
    if sent.chunks is None:
        doc = _json(content)
        answer, tokens = answer_of_completion(doc), tokens_of_body(content, decision.input_tokens)
    else:
        meter = StreamMeter(drop_usage_chunk=call.want_usage)
        content = meter.feed(content) + meter.flush()
        answer, tokens = _stream_answer(content), meter.tokens(decision.input_tokens)
    failure = local_checks(cascade.checks, answer, call.body)
    if failure is None and cascade.checks.verifier_url:
        failure = await _verify(proxy, cascade, spec.id, call.body, answer)
    cost = spec.cost_usd(tokens.input, tokens.output)
    attempt.check, attempt.cost_usd = ("pass" if failure is None else failure), cost
    await proxy._record(call, decision, spec, "ok" if failure is None else "check_failed", tokens,
                        error=None if failure is None else f"cascade check failed: {failure}")
    if failure is not None:
        await _charge_failure(proxy, cascade, decision, tokens, cost, attempt.latency_ms, failure)
    return ("pass" if failure is None else "fail"), Response(content, status_code=status,
                                                             headers=headers)


async def _drain(proxy: Proxy, sent) -> bytes:
    """Read a stream to its end (bounded by the idle timeout between chunks)."""
    parts = [sent.first]
    try:
        while True:
            with anyio.fail_after(proxy.settings.proxy_stream_idle_timeout_s):
                chunk = await anext(sent.chunks, None)
            if chunk is None:
                break
            parts.append(chunk)
    finally:
        with anyio.CancelScope(shield=True):
            await sent.response.aclose()
    return b"".join(parts)


def _json(content: bytes) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return None


def _stream_answer(content: bytes) -> Answer:
    """The text and finish reason of a buffered SSE chat completion stream (first choice)."""
    text, finish = [], None
    for line in content.splitlines():
        if not line.startswith(b"data:") or line[5:].strip() == b"[DONE]":
            continue
        doc = _json(line[5:].strip())
        for choice in (doc or {}).get("choices") or [] if isinstance(doc, dict) else []:
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                text.append(str((choice.get("delta") or {}).get("content") or ""))
                finish = choice.get("finish_reason") or finish
    return Answer("".join(text), finish)


async def _verify(proxy: Proxy, cascade: Cascade, model: str, body: dict[str, Any],
                  answer: Answer) -> str | None:
    """The external verifier's verdict: None for pass, else why not. A verifier that cannot be
    asked counts as a failed check (the answer was not verified)."""
    checks = cascade.checks
    try:
        r = await proxy.client.post(checks.verifier_url, timeout=checks.verifier_timeout_s, json={
            "cascade": cascade.name, "model": model, "messages": body.get("messages"),
            "answer": answer.text})
        verdict = r.json() if r.status_code < 300 else None
    except (httpx.HTTPError, ValueError) as exc:
        return f"verifier: not reachable ({_label(exc)})"
    if not isinstance(verdict, dict) or not isinstance(verdict.get("pass"), bool):
        return f"verifier: answered {r.status_code} without a boolean 'pass'"
    if verdict["pass"]:
        return None
    return "verifier: " + str(verdict.get("reason") or "failed")[:200]


async def _charge_failure(proxy: Proxy, cascade: Cascade, decision: RouteDecision,
                          tokens: Tokens, cost: float, latency_ms: float, failure: str) -> None:
    """Feedback for an answer that failed its check: its cost is charged, and (unless the
    cascade's failure_reward is false) the failure is learned as that reward."""
    learned = cascade.failure_reward is not None
    outcome = Outcome(reward=cascade.failure_reward,
                      error=None if learned else f"cascade check failed: {failure}"[:2000],
                      input_tokens=tokens.input, output_tokens=tokens.output, cost_usd=cost,
                      latency_ms=latency_ms)
    try:
        await run_in_threadpool(proxy.service.feedback, decision.decision_id, outcome)
    except Exception:
        log.exception("could not record the failed check of decision %s", decision.decision_id)
