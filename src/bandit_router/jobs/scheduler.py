"""APScheduler wiring: refit every ``refit_interval_s``; sync posterior and line-up often."""

from __future__ import annotations

from typing import Callable

from apscheduler.schedulers.background import BackgroundScheduler


def start_scheduler(
    refit: Callable[[], object], sync: Callable[[], object], *, refit_interval_s: float,
    sync_interval_s: float, run_refit: bool = True,
    extra: list[tuple[str, Callable[[], object], float]] = (),
) -> BackgroundScheduler:
    """``extra``: more jobs as (id, function, interval in seconds)."""
    scheduler = BackgroundScheduler(daemon=True)
    common = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
    if run_refit:
        scheduler.add_job(refit, "interval", seconds=refit_interval_s, id="refit", **common)
    scheduler.add_job(sync, "interval", seconds=sync_interval_s, id="sync", **common)
    for job_id, fn, interval_s in extra:
        scheduler.add_job(fn, "interval", seconds=interval_s, id=job_id, **common)
    scheduler.start()
    return scheduler
