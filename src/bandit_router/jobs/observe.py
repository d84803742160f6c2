"""Refresh the gauge that needs the database: decisions still waiting for feedback.

Reward and spend are counters updated as feedback commits (see ``Service``); this job's one
query reads a fixed slice of time, so its cost does not grow with the day's traffic.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from bandit_router import metrics
from bandit_router.store.activity import missing_feedback


def collect_gauges(service) -> None:
    now = datetime.now(timezone.utc)
    with service.sessions() as s:
        counts = missing_feedback(s, now - timedelta(minutes=10), now - timedelta(minutes=5))
    for tenant in {None, *service.tenants}:
        metrics.FEEDBACK_MISSING.labels(tenant or "-").set(counts.get(tenant, 0))
