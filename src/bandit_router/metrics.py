"""Prometheus metrics. With several uvicorn workers, set ``PROMETHEUS_MULTIPROC_DIR`` (``serve``
does) and ``/metrics`` aggregates every worker (prometheus-client's multiprocess mode).

Labels never carry secrets: tenant ids and model ids only, never keys or URLs.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Summary,
    generate_latest,
    multiprocess,
)

_MULTI = "PROMETHEUS_MULTIPROC_DIR" in os.environ
_GAUGE_MODE = {"multiprocess_mode": "mostrecent"} if _MULTI else {}

DECISIONS = Counter("bandit_router_decisions", "Routing decisions", ["model", "tenant"])
HTTP_LATENCY = Histogram(
    "bandit_router_http_request_duration_seconds", "Time to answer, by endpoint",
    ["endpoint", "method", "status"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
FEEDBACK = Counter("bandit_router_feedback", "Feedback posts by result", ["tenant", "result"])
FEEDBACK_MISSING = Gauge(
    "bandit_router_feedback_missing",
    "Decisions made 5 to 10 minutes ago still without feedback", ["tenant"], **_GAUGE_MODE)
# Counted as feedback commits, in every process (summed across workers and replicas), so no
# query scans a window of traffic: mean reward over a window is rate(_sum) / rate(_count).
REWARD = Summary("bandit_router_reward", "Rewards of recorded feedback", ["model"])
SPEND = Counter("bandit_router_spend_usd", "Cost charged for recorded feedback, USD",
                ["tenant", "model"])
POLICY_VERSION = Gauge("bandit_router_policy_version", "Posterior version being served",
                       **_GAUGE_MODE)
POLICY_CREATED = Gauge("bandit_router_policy_created_timestamp_seconds",
                       "When the served posterior version was fitted (policy age = now − this)",
                       **_GAUGE_MODE)
POSTERIOR_LAG = Gauge("bandit_router_posterior_lag_seconds",
                      "How long the oldest feedback not yet learned by the served posterior has "
                      "waited (0: none waiting); grows without bound when refits stop",
                      **_GAUGE_MODE)
REFIT_SECONDS = Histogram("bandit_router_refit_duration_seconds", "Refit wall time",
                          buckets=(0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120))
REFIT_FAILURES = Counter("bandit_router_refit_failures", "Refits that raised")
DRIFT_ALARMS = Counter("bandit_router_drift_alarms", "Refits that found a model's reward "
                       "changed and forgot its older evidence", ["model"])
DEFAULT_REWARDS = Counter("bandit_router_default_rewards", "Default rewards recorded because a "
                          "decision's feedback window closed without feedback", ["tenant"])
RETENTION_DROPPED = Counter("bandit_router_retention_dropped", "Decisions and feedback rows "
                            "removed by retention (on Postgres: whole partitions)", ["table"])
UPSTREAM_FAILURES = Counter(
    "bandit_router_upstream_failures", "Proxy tries that got no answer from a model (reason: "
    "the HTTP status, timeout, the connection error, MissingApiKey, stream_incomplete)",
    ["model", "reason"])
DB_ERRORS = Counter("bandit_router_database_errors", "Database errors seen", ["where"])


_CHILDREN: dict[tuple, Any] = {}


def child(metric, *labels: str):
    """``metric.labels(*labels)``, found once per label set: ``labels()`` checks and joins
    its arguments on every call (~4 µs), several times per request on the hot paths. Bounded
    as the registry is: prometheus-client keeps every child it ever made."""
    key = (metric, labels)
    found = _CHILDREN.get(key)
    if found is None:
        found = _CHILDREN[key] = metric.labels(*labels)
    return found


def render() -> tuple[bytes, str]:
    """The exposition text for this process, or for all workers in multiprocess mode."""
    if _MULTI:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
