"""What is sent to a model's upstream, and which of its answers count as the model failing.

The upstream address comes only from the registered model (``base_url``), never from the
request, so a caller cannot make the proxy reach an address of its choosing.
"""

from __future__ import annotations

import json
import os
from typing import Any, Mapping

import bandit_router
from bandit_router.routing.catalog import OWN_SETTINGS_PREFIX, ModelSpec

# Statuses after which another model may well answer: overload, outage, rate limit, and a
# key the operator configured wrongly for this upstream. Other 4xx mean the request itself
# is wrong and go back to the caller unchanged.
FALLBACK_STATUSES = frozenset({401, 403, 408, 429})

# Hop-by-hop headers and ones that describe the upstream's encoding of the bytes, which
# httpx has already decoded; the upstream's cookies are not the caller's business.
_DROPPED_HEADERS = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "transfer-encoding", "upgrade", "content-length", "content-encoding", "set-cookie",
    "date", "server",
})


class MissingApiKey(RuntimeError):
    """The model names an ``api_key_env`` variable that is not set in this process."""

    def __init__(self, variable: str) -> None:
        super().__init__(f"environment variable {variable} is not set")
        self.variable = variable


def read_api_key(env_name: str) -> str:
    """The value of the environment variable ``env_name``.

    The one read of ``os.environ`` outside the settings class: which variables hold keys is
    data (each model's ``api_key_env`` in the line-up), unknown when settings are loaded.
    The value is never logged nor stored.
    """
    if env_name.startswith(OWN_SETTINGS_PREFIX):  # a model stored before registration refused it
        raise MissingApiKey(f"api_key_env {env_name} names a setting of bandit-router itself; "
                            "it is never sent upstream")
    value = os.environ.get(env_name)
    if not value:
        raise MissingApiKey(env_name)
    return value


def chat_url(spec: ModelSpec) -> str:
    assert spec.base_url is not None  # only models with a base_url are forwarded to
    return spec.base_url.rstrip("/") + "/chat/completions"


def request_headers(spec: ModelSpec) -> dict[str, str]:
    headers = {"content-type": "application/json", "accept": "application/json, text/event-stream",
               "user-agent": f"bandit-router/{bandit_router.__version__}"}
    if spec.api_key_env:
        headers["authorization"] = f"Bearer {read_api_key(spec.api_key_env)}"
    return headers


def request_body(body: Mapping[str, Any], spec: ModelSpec, *, want_usage: bool) -> bytes:
    """The caller's body with the upstream's model name, asking a stream for its usage."""
    out = dict(body)
    out["model"] = spec.upstream_model or spec.id
    if want_usage:
        out["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
    return json.dumps(out, separators=(",", ":")).encode()


def is_model_failure(status: int) -> bool:
    return status >= 500 or status in FALLBACK_STATUSES


def response_headers(upstream: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in upstream.items() if k.lower() not in _DROPPED_HEADERS}


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """An upstream's ``Retry-After`` in seconds, if it gave one in seconds."""
    try:
        value = float(headers.get("retry-after", ""))
    except ValueError:
        return None
    return value if value >= 0 else None
