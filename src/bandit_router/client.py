"""The Python client apps import: route, feedback, the line-up, tenants and budgets (httpx).

>>> from bandit_router.client import BanditRouterClient
>>> with BanditRouterClient("http://127.0.0.1:8000", api_key="...") as br:
...     d = br.route(messages=[{"role": "user", "content": "Sum 2 and 2"}])
...     br.feedback(d.decision_id, reward=1.0)

:class:`AsyncBanditRouterClient` has the same methods, to be awaited.

Retries: only calls that are safe to repeat are retried — feedback (write-once by decision
id: an identical repeat answers 200), GET, PUT and DELETE — after a network error or a 429,
502, 503 or 504, at most ``max_retries`` times, waiting the server's ``Retry-After`` (or an
exponential backoff) but never longer than ``max_wait_s``. ``route`` logs a decision each
time it runs, so it is retried only with ``retry_route=True``. An app that also retries
around this client multiplies the attempts: set ``max_retries=0`` there if it does.

Past 300 lines on purpose: the result types, the error classes, the retry rule and the
endpoints are written once and shared by the blocking and the async client; apps import this
one module (pydantic and httpx only).
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Any, Callable, Generic, Literal, TypeVar

import httpx
from pydantic import BaseModel

import bandit_router
from bandit_router.api.schemas import (
    FeedbackOut,
    IssuedKeyOut,
    ModelOut,
    RouteOut,
    TenantOut,
    UsageOut,
)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
RETRY_STATUSES = frozenset({429, 502, 503, 504})


# -- results ----------------------------------------------------------------------------------
class RouteResult(RouteOut):
    """What ``POST /v1/route`` answered (the server's own response schema)."""


class FeedbackResult(FeedbackOut):
    @property
    def created(self) -> bool:
        """False for an identical repeat, which stored nothing new."""
        return self.status == "recorded"


class Model(ModelOut):
    """A model of the line-up, as ``GET /v1/models`` lists it."""


class Tenant(TenantOut):
    """A tenant with its budget and latency SLA, as the tenants endpoints answer."""


class ApiKey(IssuedKeyOut):
    """A newly issued app key; ``key`` is the secret, returned only when it is created."""

    def __repr__(self) -> str:  # keep the secret out of logs and tracebacks
        return f"ApiKey(id={self.id!r}, tenant_id={self.tenant_id!r}, key=<hidden>)"

    __str__ = __repr__


class Usage(UsageOut):
    """A tenant's spend in the current period, per model, and the paced cost weight."""


# -- errors -----------------------------------------------------------------------------------
class BanditRouterError(Exception):
    """The server could not be reached, or answered with an error (:class:`APIError`)."""


class APIError(BanditRouterError):
    def __init__(self, status_code: int, message: str, body: Any = None,
                 retry_after_s: float | None = None) -> None:
        super().__init__(f"{status_code}: {message}")
        self.status_code = status_code
        self.message = message
        self.body = body
        self.retry_after_s = retry_after_s


class AuthenticationError(APIError):
    """401/403: a missing, wrong or revoked key, or one without the rights needed."""


class NotFoundError(APIError):
    pass


class ConflictError(APIError):
    """409, e.g. feedback already recorded with different values."""


class InvalidRequestError(APIError):
    """400/413/422: the message says what to change."""


class RateLimitError(APIError):
    pass


class UnavailableError(APIError):
    """502/503/504: retry later (``retry_after_s`` when the server said when)."""


_ERRORS: dict[int, type[APIError]] = {400: InvalidRequestError, 401: AuthenticationError,
                                      403: AuthenticationError, 404: NotFoundError,
                                      409: ConflictError, 413: InvalidRequestError,
                                      422: InvalidRequestError, 429: RateLimitError,
                                      502: UnavailableError, 503: UnavailableError,
                                      504: UnavailableError}


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("retry-after", "")))
    except ValueError:
        return None


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        body = response.json()
    except ValueError:
        body = response.text
    message = body
    if isinstance(body, dict):  # bandit-router: {"detail"}; the proxy: OpenAI {"error": {...}}
        message = body.get("detail") or (body.get("error") or {}).get("message") or body
    cls = _ERRORS.get(response.status_code, APIError)
    raise cls(response.status_code, str(message), body, _retry_after(response))


# -- calls ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Call(Generic[T]):
    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    json: Any = None
    params: dict[str, Any] | None = None
    idempotent: bool = True


def _json_as(cls: type[M]) -> Callable[[httpx.Response], M]:
    return lambda r: cls.model_validate(r.json())


def _nothing(_: httpx.Response) -> None:
    return None


@dataclass(frozen=True)
class _Retry:
    max_retries: int
    backoff_s: float
    max_wait_s: float

    def wait(self, call: _Call, attempt: int, response: httpx.Response | None) -> float | None:
        """Seconds to wait before trying ``call`` again, or None to stop here."""
        if not call.idempotent or attempt >= self.max_retries:
            return None
        if response is not None:
            if response.status_code not in RETRY_STATUSES:
                return None
            asked = _retry_after(response)
            if asked is not None:
                return asked if asked <= self.max_wait_s else None
        return min(self.max_wait_s, self.backoff_s * 2 ** attempt * (0.5 + random.random()))

    def next(self, call: _Call[T], attempt: int, outcome: httpx.Response | Exception
             ) -> tuple[float, None] | tuple[None, T]:
        """After one try: ``(wait, None)`` to try again, or ``(None, result)``; raises the
        error the caller should see."""
        response = outcome if isinstance(outcome, httpx.Response) else None
        wait = self.wait(call, attempt, response)
        if wait is not None:
            return wait, None
        if response is None:
            raise BanditRouterError(f"{call.method} {call.path}: {outcome!r}") from outcome
        _raise_for(response)
        return None, call.parse(response)


def _body(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


class _Endpoints:
    """Each method builds one call; the sync and async clients differ only in running it."""

    def _run(self, call: _Call[T]) -> T:  # pragma: no cover - defined by the clients
        raise NotImplementedError

    # routing
    def route(self, prompt: str | None = None, *, messages: list[dict[str, Any]] | None = None,
              features: dict[str, float] | None = None, candidates: list[str] | None = None,
              expected_output_tokens: int | None = None, input_tokens: int | None = None,
              metadata: dict[str, Any] | None = None, retry_route: bool = False) -> RouteResult:
        """Which model should answer (``POST /v1/route``); give ``prompt`` or ``messages``."""
        body = _body(prompt=prompt, messages=messages, features=features, candidates=candidates,
                     expected_output_tokens=expected_output_tokens, input_tokens=input_tokens,
                     metadata=metadata)
        return self._run(_Call("POST", "/v1/route", _json_as(RouteResult), body,
                               idempotent=retry_route))

    def feedback(self, decision_id: str, reward: float | None = None, *,
                 input_tokens: int | None = None, output_tokens: int | None = None,
                 cost_usd: float | None = None, latency_ms: float | None = None,
                 error: str | None = None) -> FeedbackResult:
        """Record how a decision went (``POST /v1/feedback``); safe to retry with the same values."""
        body = _body(decision_id=decision_id, reward=reward, input_tokens=input_tokens,
                     output_tokens=output_tokens, cost_usd=cost_usd, latency_ms=latency_ms,
                     error=error)
        return self._run(_Call("POST", "/v1/feedback", _json_as(FeedbackResult), body))

    # the line-up
    def list_models(self) -> list[Model]:
        return self._run(_Call("GET", "/v1/models",
                               lambda r: [Model.model_validate(m) for m in r.json()["models"]]))

    def put_model(self, model_id: str, *, input_price_per_mtok: float,
                  output_price_per_mtok: float, context_window: int, **optional: Any) -> Model:
        """Register or update a model; ``optional``: tags, provider, base_url, api_key_env,
        upstream_model, typical_latency_ms."""
        body = _body(input_price_per_mtok=input_price_per_mtok,
                     output_price_per_mtok=output_price_per_mtok, context_window=context_window,
                     **optional)
        return self._run(_Call("PUT", f"/v1/models/{model_id}", _json_as(Model), body))

    def delete_model(self, model_id: str) -> None:
        return self._run(_Call("DELETE", f"/v1/models/{model_id}", _nothing))

    # tenants, keys and budgets
    def create_tenant(self, tenant_id: str, name: str | None = None, **extra: Any) -> Tenant:
        body = _body(id=tenant_id, name=name, **extra)
        return self._run(_Call("POST", "/v1/tenants", _json_as(Tenant), body,
                               idempotent=False))

    def create_key(self, tenant_id: str, name: str | None = None) -> ApiKey:
        """A new app key for the tenant; ``.key`` is the secret, shown only now."""
        return self._run(_Call("POST", f"/v1/tenants/{tenant_id}/keys", _json_as(ApiKey),
                               _body(name=name), idempotent=False))

    def revoke_key(self, key_id: str) -> None:
        return self._run(_Call("DELETE", f"/v1/keys/{key_id}", _nothing))

    def set_budget(self, tenant_id: str, *, period: Literal["hour", "day", "month"],
                   limit_usd: float, on_exhausted: Literal["cheapest", "reject", "fallback"] = "cheapest"
                   ) -> Tenant:
        body = {"period": period, "limit_usd": limit_usd, "on_exhausted": on_exhausted}
        return self._run(_Call("PUT", f"/v1/tenants/{tenant_id}/budget", _json_as(Tenant),
                               body))

    def usage(self, tenant_id: str) -> Usage:
        return self._run(_Call("GET", f"/v1/tenants/{tenant_id}/usage", _json_as(Usage)))


def _http_options(base_url: str, api_key: str | None, timeout: float) -> dict[str, Any]:
    headers = {"user-agent": f"bandit-router-client/{bandit_router.__version__}"}
    if api_key:
        headers["authorization"] = f"Bearer {api_key}"
    return {"base_url": base_url.rstrip("/"), "headers": headers, "timeout": timeout}


class BanditRouterClient(_Endpoints):
    """Blocking client; one connection pool, close it with ``close()`` or ``with``."""

    def __init__(self, base_url: str = "http://127.0.0.1:8000", *, api_key: str | None = None,
                 timeout: float = 10.0, max_retries: int = 2, backoff_s: float = 0.25,
                 max_wait_s: float = 30.0, http_client: httpx.Client | None = None) -> None:
        self._http = http_client or httpx.Client(**_http_options(base_url, api_key, timeout))
        self._retry = _Retry(max_retries, backoff_s, max_wait_s)

    def _run(self, call: _Call[T]) -> T:
        for attempt in range(self._retry.max_retries + 1):
            try:
                outcome = self._http.request(call.method, call.path, json=call.json,
                                             params=call.params)
            except httpx.TransportError as exc:
                outcome = exc
            wait, result = self._retry.next(call, attempt, outcome)
            if wait is None:
                return result  # type: ignore[return-value]
            time.sleep(wait)
        raise AssertionError("unreachable: the last attempt never waits")

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "BanditRouterClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncBanditRouterClient(_Endpoints):
    """The same methods as :class:`BanditRouterClient`, each returning an awaitable."""

    def __init__(self, base_url: str = "http://127.0.0.1:8000", *, api_key: str | None = None,
                 timeout: float = 10.0, max_retries: int = 2, backoff_s: float = 0.25,
                 max_wait_s: float = 30.0, http_client: httpx.AsyncClient | None = None) -> None:
        self._http = http_client or httpx.AsyncClient(**_http_options(base_url, api_key, timeout))
        self._retry = _Retry(max_retries, backoff_s, max_wait_s)

    async def _run(self, call: _Call[T]) -> T:  # type: ignore[override]
        for attempt in range(self._retry.max_retries + 1):
            try:
                outcome = await self._http.request(call.method, call.path, json=call.json,
                                                   params=call.params)
            except httpx.TransportError as exc:
                outcome = exc
            wait, result = self._retry.next(call, attempt, outcome)
            if wait is None:
                return result  # type: ignore[return-value]
            await asyncio.sleep(wait)
        raise AssertionError("unreachable: the last attempt never waits")

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> "AsyncBanditRouterClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
