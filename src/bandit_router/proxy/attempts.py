"""One caller request on its way through the models (:class:`Call`), each model tried
(:class:`Attempt`, as recorded in the ``usage`` row), and what the caller is told when no
model answered (:func:`no_answer`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bandit_router.proxy.errors import ProxyError
from bandit_router.routing import RouteDecision, RouteRequest

DECISION_HEADER = "x-bandit-router-decision-id"
MODEL_HEADER = "x-bandit-router-model"


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
class Call:
    """One caller request on its way through the models."""

    body: dict[str, Any]
    stream: bool
    want_usage: bool  # the proxy asks a stream for its usage chunk (the caller did not)
    request: RouteRequest
    tenant_id: str | None
    deadline: float
    attempts: list[Attempt] = field(default_factory=list)

    @classmethod
    def of(cls, body: dict[str, Any], request: RouteRequest, tenant_id: str | None,
           deadline: float) -> "Call":
        stream = body.get("stream") is True
        return cls(body=body, stream=stream, tenant_id=tenant_id, request=request,
                   want_usage=stream and "include_usage" not in (body.get("stream_options")
                                                                 or {}),
                   deadline=deadline)


def ms(since: float, now: float) -> float:
    return round((now - since) * 1000.0, 3)


def no_answer(requested: str, attempts: list[Attempt], last: RouteDecision | None,
              deadline_s: float) -> ProxyError:
    """The error for a request no model answered: 504 when none could be tried in time or
    the last timed out, 429 when every one was rate-limited, else 502."""
    headers = {DECISION_HEADER: last.decision_id, MODEL_HEADER: last.model} if last else {}
    tried = ", ".join(a.describe() for a in attempts)
    if not attempts:
        return ProxyError(504, f"no model for {requested!r} could be tried within the "
                               f"deadline of {deadline_s:g} s",
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
