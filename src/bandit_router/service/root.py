"""The composition root: one process's service wired together from :class:`Settings`.

It builds the parts and starts and stops them; the work is theirs: deciding and logging
(``decisions``), feedback (``feedback``, with the charge rule in ``charge``), keys
(``auth``) and the runtime snapshot (``sync``). The HTTP API, the proxy and the CLI all
drive this object.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Coroutine

from sqlalchemy.orm import Session, sessionmaker
from threadpoolctl import threadpool_limits

from bandit_router import metrics
from bandit_router.config import Settings
from bandit_router.features import featurizer_for
from bandit_router.jobs.lifecycle import lifecycle_jobs
from bandit_router.jobs.refit import RefitConfig, RefitResult, refit
from bandit_router.jobs.scheduler import start_scheduler
from bandit_router.policy import Posterior
from bandit_router.routing import RouteDecision, RouteRequest, Router
from bandit_router.routing.catalog import ModelSpec, checked_for_registration, load_catalog
from bandit_router.routing.tenancy import TenantState
from bandit_router.service import routing_config
from bandit_router.service.auth import KeyAuth
from bandit_router.service.charge import charged
from bandit_router.service.decisions import DecisionLog
from bandit_router.service.feedback import FeedbackDesk, count_settled
from bandit_router.service.lookup import DecisionLookup
from bandit_router.service.sync import RuntimeSync
from bandit_router.store import tenants as tenant_store
from bandit_router.store import migrate
from bandit_router.store.db import engine_for, make_sessionmaker, ping, transaction
from bandit_router.store.decision_ids import IdIssuer
from bandit_router.store.decisions import Outcome
from bandit_router.store.locks import MODELS_LOCK, OPERATOR_KEY_LOCK, exclusive_xact_lock
from bandit_router.store.models import record_model
from bandit_router.store.writer import DecisionWriter, FeedbackCommitter, Logged

log = logging.getLogger(__name__)
# Feedback group commits in flight at once per process (store.writer.FeedbackCommitter): an
# answer waits for one commit instead of the one before it too (benchmarks/README.md,
# 2026-12-06, "issue-19-cpu").
FEEDBACK_COMMITTERS = 2


class Service:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = engine_for(settings)
        self.sessions: sessionmaker[Session] = make_sessionmaker(self.engine)
        self.feedback_engine = self._feedback_engine(settings)
        ids = IdIssuer()
        self.lookup = DecisionLookup(
            ids, make_sessionmaker(self.feedback_engine), wait_s=settings.feedback_wait_s,
            grace_s=settings.decision_grace_s, in_flight_s=settings.decision_in_flight_s)
        spec = settings.feature_spec()
        self.refit_config = RefitConfig.from_settings(settings, spec)
        self.prior = self.refit_config.spec.prior
        self.router = Router(
            featurizer_for(spec),
            self.refit_config.spec.policy(),
            Posterior.from_prior([], spec.dim, self.prior, version=0),
            [],
            cost_weight=settings.cost_weight,
            default_output_tokens=settings.default_output_tokens,
        )
        self.decisions = DecisionLog(self.router, ids, settings)
        self.desk = FeedbackDesk(self.lookup)
        self.auth = KeyAuth(settings, self.engine)
        self.syncer = RuntimeSync(self.router, self.sessions, settings, spec.name, spec.dim,
                                  on_paced=self.decisions.note_paced)
        self.scheduler = None

    def _feedback_engine(self, settings: Settings):
        """The feedback path's own connections (Postgres): each statement and each wait for a
        lock gives up after ``feedback_wait_s``, so a locked table cannot hold the one group
        committer, and with it every feedback of this process, for as long as the lock lasts."""
        if self.engine.dialect.name != "postgresql":
            return self.engine
        return engine_for(settings, pool_size=4, max_overflow=8,
                          statement_timeout_s=settings.feedback_wait_s)

    # -- lifecycle ----------------------------------------------------------------------
    def start(self, *, migrate_db: bool = True, scheduler: bool | None = None) -> None:
        # One BLAS thread per process: with a thread pool per worker, two workers on two
        # cores spend their time contending (measured in the field notes: 6x slower).
        threadpool_limits(limits=self.settings.blas_threads)
        if migrate_db:
            migrate.upgrade(self.engine)
        if self.settings.models_file is not None:
            self.register_models(load_catalog(self.settings.models_file))
            routing_config.register_from_file(self, self.settings.models_file)
        self.sync()
        if not self.posterior_loaded:
            self.refit(force=True)
        self._start_writers()
        run = self.settings.scheduler if scheduler is None else scheduler
        if run:
            self.scheduler = start_scheduler(
                self._scheduled_refit, self._scheduled_sync,
                refit_interval_s=self.settings.refit_interval_s,
                sync_interval_s=self.settings.posterior_poll_s,
                run_refit=self.settings.refit_in_process, extra=lifecycle_jobs(self),
            )

    def _start_writers(self) -> None:
        st = self.settings
        if self.decisions.writer is None:
            self.decisions.writer = self.desk.writer = DecisionWriter(
                self.engine, max_batch=st.writer_batch_max, max_buffer=st.decision_buffer_max,
                retry_max_s=st.writer_retry_max_s, linger_s=st.writer_linger_s)
        if self.desk.committer is None:
            # Two batches in flight on Postgres (SQLite has one writer at a time).
            self.desk.committer = FeedbackCommitter(
                self.lookup.sessions, charged, max_batch=st.writer_batch_max,
                linger_s=st.feedback_linger_s, on_settled=count_settled,
                threads=FEEDBACK_COMMITTERS if self.engine.dialect.name == "postgresql" else 1)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every decision routed so far is committed; False on timeout."""
        writer = self.decisions.writer
        return writer.flush(timeout) if writer is not None else True

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)
            self.scheduler = None
        if self.desk.committer is not None:
            self.desk.committer.close(self.settings.shutdown_drain_s)
            self.desk.committer = None
        if self.decisions.writer is not None:
            self.decisions.writer.close(self.settings.shutdown_drain_s)
            self.decisions.writer = self.desk.writer = None
        self.engine.dispose()
        self.feedback_engine.dispose()

    # -- work ---------------------------------------------------------------------------
    def route(self, request: RouteRequest, *, tenant_id: str | None = None,
              metadata: dict | None = None, batched: bool = False) -> RouteDecision:
        """Decide and log the decision (``DecisionLog.route``); the one entry point of the
        API and the proxy, so ``bandit_router_decisions_total`` counts both."""
        if self.decisions.writer is None:  # not started yet: the writer logs every decision
            self._start_writers()
        decision = self.decisions.route(request, tenant_id=tenant_id, metadata=metadata,
                                        batched=batched)
        metrics.child(metrics.DECISIONS, decision.model, tenant_id or "-").inc()
        return decision

    def routes_in_memory(self, tenant_id: str | None) -> bool:
        """Whether ``route(..., batched=True)`` for this tenant does no I/O (no budget)."""
        return self.decisions.in_memory(tenant_id)

    def feedback_async(self, decision_id: str, outcome: Outcome, *,
                       tenant_id: str | None = None) -> Coroutine[Any, Any, tuple[int, bool]]:
        """Record an outcome exactly once (``FeedbackDesk.record``): (feedback id, created),
        returned once it is committed. (``FeedbackDesk.record``'s coroutine itself, to be
        awaited: no coroutine of its own around it, one frame less per feedback.)"""
        if self.desk.committer is None:  # not started yet: the committer owns settling
            self._start_writers()
        return self.desk.record(decision_id, outcome, tenant_id=tenant_id)

    def feedback(self, decision_id: str, outcome: Outcome, *,
                 tenant_id: str | None = None) -> tuple[int, bool]:
        """:meth:`feedback_async` run to completion, for a thread that has no event loop
        (the proxy's thread pool)."""
        return asyncio.run(self.feedback_async(decision_id, outcome, tenant_id=tenant_id))

    def wait_for_decision(self, decision_id: str, deadline: float | None = None) -> Logged:
        """Return once a decision this process routed is committed (at once for others), or
        at ``deadline``; says whether it was in this process's buffer. Blocks."""
        return self.desk.wait_logged(decision_id, deadline)

    # -- tenants and keys -----------------------------------------------------------------
    def authenticate(self, secret: str) -> Coroutine[Any, Any, tenant_store.Principal | None]:
        """The caller's principal, or None: ``KeyAuth.authenticate``'s coroutine, to be
        awaited (no coroutine of its own around it: one frame less per request)."""
        return self.auth.authenticate(secret)

    def ensure_operator_key(self) -> str | None:
        """Create an operator key when none is configured or stored; returns it (shown once)."""
        if self.settings.admin_key is not None:
            return None
        with transaction(self.sessions) as s:
            exclusive_xact_lock(s, OPERATOR_KEY_LOCK)
            if tenant_store.has_operator_key(s):
                return None
            return tenant_store.issue_key(s, None, role="admin", name="operator").secret

    @property
    def tenants(self) -> dict[str, TenantState]:
        return dict(self.router.runtime.tenants)

    def sync_tenants(self) -> None:
        self.syncer.sync_tenants()

    # -- the line-up ----------------------------------------------------------------------
    def checked_model(self, spec: ModelSpec) -> ModelSpec:
        """``spec`` as it may be registered under these settings (raises CatalogError)."""
        return checked_for_registration(spec, self.settings.upstream_key_env_allow)

    def register_models(self, specs: list[ModelSpec]) -> None:
        specs = [self.checked_model(spec) for spec in specs]
        with transaction(self.sessions) as s:
            # Every uvicorn worker registers the models file at start; without this lock two
            # workers on a new database both insert a model, one fails its start-up, and
            # uvicorn then stops the whole server.
            exclusive_xact_lock(s, MODELS_LOCK)
            for spec in specs:
                record_model(s, spec)
        self.sync_models()

    def sync_models(self) -> None:
        self.syncer.sync_models()

    def sync_rules(self) -> None:
        self.syncer.sync_rules()

    # -- the snapshot and learning --------------------------------------------------------
    def sync(self, *, latency: bool = True) -> None:
        """Load the newest posterior version (if newer), the line-up, rules, tenants and
        their paced λ, as one snapshot (``RuntimeSync.sync``)."""
        self.syncer.sync(latency=latency)

    @property
    def posterior_loaded(self) -> bool:
        return self.syncer.posterior_loaded

    def staleness(self) -> dict:
        return self.syncer.staleness()

    def refit(self, force: bool = False) -> RefitResult:
        try:
            result = refit(self.engine, self.refit_config, force=force)
        except Exception:
            metrics.REFIT_FAILURES.inc()
            raise
        if result.version is not None:
            metrics.REFIT_SECONDS.observe(result.seconds)
            for model in result.drift_alarms:
                metrics.DRIFT_ALARMS.labels(model=model).inc()
            self.sync()
        return result

    def ready(self) -> tuple[bool, dict[str, str]]:
        checks = {}
        try:
            ping(self.engine)
            checks["database"] = "ok"
        except Exception as exc:  # any driver error means not ready
            checks["database"] = f"unreachable ({type(exc).__name__})"
        checks["posterior"] = (f"version {self.router.posterior.version}"
                               if self.posterior_loaded else "not loaded")
        stale = self.staleness()
        if stale["stale"]:
            checks["posterior"] += (f"; stale: feedback has waited {stale['lag_s']:.0f} s for a "
                                    f"refit (over {stale['stale_after_s']:g} s): is the refit "
                                    "job running?")
        n = len(self.router.models)
        # With no model registered every route would be a 503.
        checks["models"] = (f"{n} registered" if n else "none registered: register one with "
                            "PUT /v1/models/{id} or start with --models FILE")
        writer = self.decisions.writer
        if writer is not None:
            checks["decision_log"] = ("ok" if writer.healthy else
                                      f"retrying ({writer.last_error}); "
                                      f"{writer.buffered} decisions buffered")
            if writer.unlogged_count:
                checks["decision_log"] += f"; {writer.unlogged_count} decisions unlogged"
        ok = checks["database"] == "ok" and self.posterior_loaded and bool(self.router.models)
        return ok, checks

    def _scheduled_refit(self) -> None:
        try:
            self.refit()
        except Exception:
            log.exception("scheduled refit failed; the previous posterior keeps serving")

    def _scheduled_sync(self) -> None:
        try:
            due = (time.monotonic() - self.syncer.last_latency
                   >= self.settings.latency_refresh_s)
            self.sync(latency=due)
        except Exception:
            metrics.DB_ERRORS.labels("sync").inc()
            log.exception("posterior sync failed; will retry")
