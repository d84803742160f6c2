"""The long-lived refit loop of ``bandit-router refit --every N``.

It must outlive the faults a deployment sees: a database restart, a dropped connection, a
lock held for a while. A failed refit is logged as one line (what failed, when the loop
tries again, how long since the last success) and retried with backoff — 1 s, 2 s, 4 s, …
up to the interval — while the previous posterior keeps serving. Only an error that is not
the database's (a bug) carries a traceback, once per run of failures, not on every retry.
Serving processes see a loop that stopped succeeding as a stale posterior
(``Service.staleness``: ``/readyz`` and ``bandit_router_posterior_lag_seconds``).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from sqlalchemy.exc import DBAPIError

from bandit_router.jobs.refit import RefitResult

log = logging.getLogger(__name__)

FIRST_RETRY_S = 1.0


def describe_failure(exc: BaseException) -> str:
    """What failed, in a few words and without the statement or the database's address:
    ``OperationalError (AdminShutdown)``."""
    orig = getattr(exc, "orig", None)
    inner = type(orig).__name__ if orig is not None else None
    return f"{type(exc).__name__} ({inner})" if inner else type(exc).__name__


def retry_delay(failures: int, every_s: float) -> float:
    """Seconds before the next try after ``failures`` failures in a row (≥ 1)."""
    return min(FIRST_RETRY_S * 2 ** (failures - 1), every_s)


def run_refit_loop(refit: Callable[[], RefitResult], every_s: float, stop: threading.Event,
                   on_result: Callable[[RefitResult], None]) -> int:
    """Refit every ``every_s`` seconds until ``stop`` is set; returns how many refits failed.

    ``on_result`` is called with each successful result (the CLI prints it)."""
    failures_in_a_row = failed = 0
    last_success = time.monotonic()
    while not stop.is_set():
        try:
            result = refit()
        except Exception as exc:  # noqa: BLE001 - the loop must outlive any one refit
            failures_in_a_row += 1
            failed += 1
            delay = retry_delay(failures_in_a_row, every_s)
            database = isinstance(exc, DBAPIError)
            log.warning(
                "refit failed: %s; retrying in %.0f s (%d failure%s in a row, last success "
                "%.0f s ago); the previous posterior keeps serving",
                describe_failure(exc), delay, failures_in_a_row,
                "" if failures_in_a_row == 1 else "s", time.monotonic() - last_success,
                exc_info=not database and failures_in_a_row == 1)
            stop.wait(delay)
            continue
        if failures_in_a_row:
            log.warning("refit succeeded again after %d failure%s", failures_in_a_row,
                        "" if failures_in_a_row == 1 else "s")
        failures_in_a_row = 0
        last_success = time.monotonic()
        on_result(result)
        stop.wait(every_s)
    return failed
