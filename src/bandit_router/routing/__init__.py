"""Which model answers a request, with no I/O: the router (``router``), the model line-up
(``catalog``), the operator's rules (``rules``), cascades (``cascades``) and what a process
knows of its tenants (``tenancy``).

``Router``, ``RouteRequest``, ``RouteDecision``, ``Runtime`` and the routing errors are
importable from here; they are loaded on first use, so that importing ``catalog`` (which the
typed client's schemas do) does not load numpy.
"""

from __future__ import annotations

import importlib

_FROM_ROUTER = ("Router", "RouteRequest", "RouteDecision", "Runtime", "RoutingError",
                "UnknownModels", "NothingFits", "RuleLeavesNothing", "BudgetExhausted",
                "NoModels")
__all__ = list(_FROM_ROUTER)


def __getattr__(name: str):
    if name in _FROM_ROUTER:
        return getattr(importlib.import_module("bandit_router.routing.router"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
