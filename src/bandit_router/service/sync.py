"""Keeping one process's runtime snapshot current: the newest posterior, the line-up, the
operator rules, the recent p95 latencies, the tenants and their paced cost weights, read
from the database and swapped into the router in one assignment (``routing.Runtime``).

Run by the scheduler every ``posterior_poll_s``, and for one part at once after a change
made through this process (a model registered, a rule set, a tenant's budget).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from typing import Callable, Mapping

from sqlalchemy.orm import Session, sessionmaker

from bandit_router.config import Settings
from bandit_router.jobs.pacing import Paced, pace_tenants
from bandit_router.policy import Posterior
from bandit_router.routing import Router, Runtime
from bandit_router.store import tenants as tenant_store
from bandit_router.store.latency import recent_p95
from bandit_router.store.models import list_models, to_spec
from bandit_router.store.posteriors import (fitted_on, latest_version, load_posterior,
                                            oldest_unlearned_feedback)
from bandit_router.store.rules import load_rule_book
from bandit_router.routing.tenancy import TenantState

log = logging.getLogger(__name__)


class RuntimeSync:
    def __init__(self, router: Router, sessions: sessionmaker[Session], settings: Settings,
                 features: str, dim: int, on_paced: Callable[[Mapping[str, Paced]], None]
                 ) -> None:
        self.router, self.sessions, self.settings = router, sessions, settings
        self.features, self.dim = features, dim  # what this process's posterior must be of
        self.on_paced = on_paced  # told the committed spend each pacing read
        self.posterior_loaded = False
        self._served_watermark: int | None = None  # feedback id the served posterior learned to
        self._unlearned_since: float | None = None  # epoch s of the oldest feedback not learned
        self._skipped_version: int | None = None  # newest version not served: other features
        self._lock = threading.Lock()  # one swap at a time: none undoes another's
        self._last_reconcile = 0.0
        self.last_latency = 0.0

    def sync(self, *, latency: bool = True) -> None:
        """Build the whole snapshot and swap it in; with ``latency``, also recompute the
        per-model p95 latency (a heavier query, which the scheduler runs only every
        ``latency_refresh_s``)."""
        with self._lock, self.sessions() as s:
            current = self.router.runtime
            posterior = self._newest_posterior(s, current.posterior)
            models = {r.id: to_spec(r) for r in list_models(s)}
            rules = load_rule_book(s)
            p95 = current.latency_p95
            if latency:
                p95 = recent_p95(s, self.settings.latency_window_s)
                self.last_latency = time.monotonic()
            self._observe_learning(s)
            tenants = self._tenants(s, current.tenants)
            s.rollback()  # pacing runs its own short transactions
            reconcile = (time.monotonic() - self._last_reconcile
                         >= self.settings.reconcile_interval_s)
            paced = pace_tenants(s, tenants.values(), reconcile=reconcile, posterior=posterior,
                                 models=models, default_cost_weight=self.settings.cost_weight)
            if reconcile:
                self._last_reconcile = time.monotonic()
            tenants = {i: replace(t, cost_weight=paced[i].cost_weight) if i in paced else t
                       for i, t in tenants.items()}
            self.router.swap(Runtime(posterior, models, rules, p95, tenants))
        self.on_paced(paced)

    def _newest_posterior(self, session: Session, served: Posterior) -> Posterior:
        newest = latest_version(session)
        if newest is None:
            return served
        if newest == served.version:
            self.posterior_loaded = True
            return served
        row = load_posterior(session, newest)
        if not fitted_on(row, self.features, self.dim):
            if newest != self._skipped_version:  # say it once per version
                self._skipped_version = newest
                log.warning("posterior version %d was fitted on other features (%s, size %d) "
                            "than this process makes (%s, size %d): not served; the refit "
                            "learns a new one", newest, row.feature_spec or "hashed n-grams",
                            row.feature_dim, self.features, self.dim)
            return served
        self.posterior_loaded = True
        self._served_watermark = int(row.watermark)
        log.info("loaded posterior version %d", row.version)
        return replace(Posterior.from_bytes(row.payload), version=int(row.version))

    @staticmethod
    def _tenants(session: Session, previous: Mapping[str, TenantState]
                 ) -> dict[str, TenantState]:
        return {r.id: TenantState.from_row(r, previous.get(r.id))
                for r in tenant_store.list_tenants(session)}

    # -- one part at once, after a change made through this process -------------------------
    def sync_tenants(self) -> None:
        with self._lock, self.sessions() as s:
            self.router.swapped(tenants=self._tenants(s, self.router.runtime.tenants))

    def sync_models(self) -> None:
        with self._lock, self.sessions() as s:
            self.router.swapped(models={r.id: to_spec(r) for r in list_models(s)})

    def sync_rules(self) -> None:
        with self._lock, self.sessions() as s:
            self.router.swapped(rules=load_rule_book(s))

    # -- learning lag ---------------------------------------------------------------------
    def _observe_learning(self, session: Session) -> None:
        """Remember when the oldest feedback the served posterior has not learned arrived."""
        if self._served_watermark is None:
            return
        first = oldest_unlearned_feedback(session, self._served_watermark)
        self._unlearned_since = None if first is None else first.timestamp()

    def staleness(self) -> dict:
        """Whether learning has stalled: feedback waiting longer than ``posterior_stale_after_s``
        (default 4 refit intervals) for a refit, as of the last sync. Routing goes on from the
        posterior in memory either way, so this is reported, not made a readiness failure."""
        after = self.settings.posterior_stale_after_s or 4 * self.settings.refit_interval_s
        since = self._unlearned_since
        lag = 0.0 if since is None else max(time.time() - since, 0.0)
        return {"stale": lag > after, "lag_s": round(lag, 1), "stale_after_s": after}
