"""Which models a request's ``model`` may go to: a registered id, ``auto`` (every model with a
``base_url``) or a route group ``group:<tag>`` / ``<tag>``."""

from __future__ import annotations

from bandit_router.routing.catalog import ModelSpec
from bandit_router.proxy.errors import ProxyError

GROUP_PREFIX = "group:"


def resolve_pool(requested: str, models: dict[str, ModelSpec]) -> list[str]:
    """The ids ``requested`` names, sorted; raises :class:`ProxyError` (400, 404 or 503)."""
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
