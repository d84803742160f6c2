"""Scheduled decision-log lifecycle: default rewards of closed feedback windows, partitions
created ahead, retention (with export before drop). Every serving process schedules these;
each is safe to run in several processes at once (see ``store.missing`` and
``store.retention``)."""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Callable

from bandit_router import metrics

log = logging.getLogger(__name__)


def record_missing_feedback(sessions, now: datetime | None = None) -> dict[str, int]:
    """Record the default reward of every decision whose feedback window closed; counts them
    per tenant in ``bandit_router_default_rewards_total``."""
    from bandit_router.store.missing import record_defaults

    with sessions() as s:
        counts = record_defaults(s, now or datetime.now(timezone.utc))
    for tenant, n in counts.items():
        metrics.DEFAULT_REWARDS.labels(tenant).inc(n)
    if counts:
        log.info("recorded %d default rewards of closed feedback windows",
                 sum(counts.values()), extra={"tenants": counts})
    return counts


def lifecycle_jobs(service) -> list[tuple[str, Callable[[], object], float]]:
    """The scheduler's lifecycle jobs for a running :class:`Service`: (id, function, interval)."""
    interval = service.settings.lifecycle_interval_s

    def guarded(name: str, fn: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except Exception:  # noqa: BLE001 - a failed run is retried next interval
                metrics.DB_ERRORS.labels(name).inc()
                log.exception("%s failed; will retry in %.0f s", name, interval)
        return run

    st = service.settings
    jobs = [("missing_feedback",
             guarded("missing_feedback", lambda: record_missing_feedback(service.sessions)),
             interval),
            ("partitions", guarded("partitions", lambda: maintain_partitions(
                service.engine, st.partition_ahead_days)), interval)]
    if st.retention_days is not None:
        jobs.append(("retention", guarded("retention", lambda: run_retention(
            service.engine, st.retention_days, export_dir=st.retention_export_dir)), interval))
    return jobs


def retention_cutoff(h, now: datetime, retention_days: float) -> datetime:
    """The newest time before which decisions may go: ``retention_days`` ago, but never
    inside the longest feedback window or a current budget period (its ledger)."""
    from datetime import timedelta

    from bandit_router.policy.pacing import period_bounds

    cutoff = now - timedelta(days=retention_days)
    if h.longest_window_s is not None:
        cutoff = min(cutoff, now - timedelta(seconds=h.longest_window_s))
    for period in h.budget_periods:
        cutoff = min(cutoff, period_bounds(period, now)[0])
    return cutoff


def run_retention(engine, retention_days: float, *, now: datetime | None = None,
                  export_dir=None):
    """Drop decisions (and feedback) past the retention window; with ``export_dir``, each
    range is first exported to ``export_dir/decisions-FROM-TO.parquet``."""
    from bandit_router.store import retention

    now = now or datetime.now(timezone.utc)
    with engine.connect() as conn:
        cutoff = retention_cutoff(retention.horizons(conn), now, retention_days)
    export = None
    if export_dir is not None:
        from pathlib import Path

        from bandit_router.jobs.archive import export_decisions

        def export(lo: datetime, hi: datetime) -> None:
            out = Path(export_dir) / f"decisions-{lo:%Y%m%dT%H%M%S}-{hi:%Y%m%dT%H%M%S}.parquet"
            out.parent.mkdir(parents=True, exist_ok=True)
            export_decisions(engine, lo, hi, out, progress=False)
    result = retention.apply(engine, cutoff, export=export)
    for table, n in result.dropped.items():
        if n:
            metrics.RETENTION_DROPPED.labels(table).inc(n)
    if any(result.dropped.values()):
        log.info("retention removed decisions made before %s", cutoff.isoformat(),
                 extra={"dropped": result.dropped, "days": result.days})
    return result


def maintain_partitions(engine, ahead_days: int) -> list[str]:
    from bandit_router.store.retention import create_ahead

    made = create_ahead(engine, ahead_days)
    if made:
        log.info("created partitions %s", ", ".join(made))
    return made
