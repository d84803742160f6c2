"""Refresh the gauges that need the database (reward, spend, missing feedback)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from bandit_router import metrics
from bandit_router.policy.pacing import period_bounds
from bandit_router.store.activity import mean_reward_by_model, missing_feedback
from bandit_router.store.spend import ledger


def collect_gauges(service) -> None:
    now = datetime.now(timezone.utc)
    with service.sessions() as s:
        for model, mean in mean_reward_by_model(s, now - timedelta(hours=1)).items():
            metrics.REWARD_MEAN.labels(model).set(mean)
        for tenant, n in missing_feedback(s).items():
            metrics.FEEDBACK_MISSING.labels(tenant or "-").set(n)
        for tenant in service.tenants.values():
            period = tenant.budget.period if tenant.budget else "day"
            start, end = period_bounds(period, now)
            for usage in ledger(s, tenant.id, start, end):
                metrics.SPEND.labels(tenant.id, usage.model).set(
                    usage.spent_usd + usage.pending_usd)
