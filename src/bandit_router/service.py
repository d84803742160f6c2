"""One process's running service: database, router, refit and background sync, wired together
from :class:`Settings`. The HTTP API, the proxy and the CLI all drive this object."""

from __future__ import annotations

import asyncio
import hmac
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import replace
from datetime import datetime, timezone

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from threadpoolctl import threadpool_limits

from bandit_router import metrics
from bandit_router.catalog import ModelSpec, checked_for_registration, load_catalog
from bandit_router.config import Settings
from bandit_router.decision_ids import BATCHED, COMMITTED, IdIssuer
from bandit_router.features import featurizer_for
from bandit_router.jobs.refit import RefitConfig, RefitResult, refit
from bandit_router.jobs.lifecycle import lifecycle_jobs
from bandit_router.jobs.scheduler import start_scheduler
from bandit_router.policy import Posterior
from bandit_router.jobs.pacing import pace_tenants
from bandit_router.lookup import DecisionLookup
from bandit_router.policy.pacing import period_bounds
from bandit_router.routing import BudgetExhausted, RouteDecision, RouteRequest, Router
from bandit_router import routing_config
from bandit_router.tenancy import TenantState, tenant_request
from bandit_router.store import migrate
from bandit_router.store.codec import encode_features
from bandit_router.store.db import (AsyncReader, engine_for, make_sessionmaker, ping,
                                    transaction)
from bandit_router.store import spend
from bandit_router.store.decisions import Outcome, record_decision
from bandit_router.store.latency import recent_p95
from bandit_router.store import tenants as tenant_store
from bandit_router.store.models import list_models, record_model, to_spec
from bandit_router.store.rules import load_rule_book
from bandit_router.store.posteriors import (fitted_on, latest_version, load_posterior,
                                            oldest_unlearned_feedback)
from bandit_router.store.errors import NotFound
from bandit_router.store.locks import MODELS_LOCK, OPERATOR_KEY_LOCK, exclusive_xact_lock
from bandit_router.store.schema import DecisionRow, ModelRow
from bandit_router.store.writer import (DecisionWriter, FeedbackCommitter, Logged, Settled,
                                        Unavailable, _transient)

log = logging.getLogger(__name__)


class Service:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = engine_for(settings)
        self.sessions: sessionmaker[Session] = make_sessionmaker(self.engine)
        self.ids = IdIssuer()
        self.feedback_engine = self._feedback_engine(settings)
        self.lookup = DecisionLookup(
            self.ids, make_sessionmaker(self.feedback_engine), wait_s=settings.feedback_wait_s,
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
        self.posterior_loaded = False
        self._served_watermark: int | None = None  # feedback id the served posterior learned to
        self._skipped_version: int | None = None  # newest version not served: other features
        self._unlearned_since: float | None = None  # epoch s of the oldest feedback not learned
        self.tenants: dict[str, TenantState] = {}
        self.scheduler = None
        self._sync_lock = threading.Lock()
        self._last_reconcile = 0.0
        self._last_latency = 0.0
        self.decision_writer: DecisionWriter | None = None
        self.feedback_committer: FeedbackCommitter | None = None
        # Keys the database confirmed recently: used only while it is unreachable.
        self._auth_cache: OrderedDict[str, tuple[tenant_store.Principal, float]] = OrderedDict()
        self._auth_lock = threading.Lock()
        url = settings.database_url.get_secret_value()
        self.key_reader = (AsyncReader(url, pooler=settings.database_pooler)
                           if self.engine.dialect.name == "postgresql" else None)

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
        if self.decision_writer is None:
            self.decision_writer = DecisionWriter(
                self.engine, max_batch=st.writer_batch_max, max_buffer=st.decision_buffer_max,
                retry_max_s=st.writer_retry_max_s, linger_s=st.writer_linger_s)
        if self.feedback_committer is None:
            self.feedback_committer = FeedbackCommitter(self.lookup.sessions, self._charged,
                                                        max_batch=st.writer_batch_max,
                                                        linger_s=st.feedback_linger_s,
                                                        on_settled=_count_settled)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every decision routed so far is committed; False on timeout."""
        return self.decision_writer.flush(timeout) if self.decision_writer is not None else True

    def stop(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)
            self.scheduler = None
        if self.feedback_committer is not None:
            self.feedback_committer.close(self.settings.shutdown_drain_s)
            self.feedback_committer = None
        if self.decision_writer is not None:
            self.decision_writer.close(self.settings.shutdown_drain_s)
            self.decision_writer = None
        self.engine.dispose()
        self.feedback_engine.dispose()

    # -- work ---------------------------------------------------------------------------
    def route(self, request: RouteRequest, *, tenant_id: str | None = None,
              metadata: dict | None = None, batched: bool = False) -> RouteDecision:
        """Decide and log the decision (:meth:`_route_and_log`); the one entry point of the API
        and the proxy, so ``bandit_router_decisions_total`` counts both."""
        decision = self._route_and_log(request, tenant_id=tenant_id, metadata=metadata,
                                       batched=batched)
        metrics.DECISIONS.labels(decision.model, tenant_id or "-").inc()
        return decision

    def _route_and_log(self, request: RouteRequest, *, tenant_id: str | None,
                       metadata: dict | None, batched: bool) -> RouteDecision:
        """Decide and log the decision.

        With ``batched`` (and ``decision_batching`` on) a budget-free tenant's decision goes
        to the background writer and this returns at once; feedback for it is acknowledged
        only after it is committed. If the writer's buffer is full (a long database outage)
        the decision is still answered, marked ``explanation["logged"] = False``. Otherwise
        the decision is committed before this returns.

        For a tenant with a budget the decision's estimated cost is reserved atomically in the
        same transaction that logs it; if a concurrent request took the money first, the
        decision is made again with the exact remaining budget.
        """
        tenant = self.tenants.get(tenant_id) if tenant_id is not None else None
        request = replace(request, tenant_id=tenant_id)  # whose rules apply (rules.py)
        if tenant is not None:
            request = tenant_request(request, tenant)
        budget = tenant.budget if tenant is not None else None
        if budget is None:
            writer = self.decision_writer
            if batched and writer is not None and self.settings.decision_batching:
                return self._decide_and_queue(writer, request, tenant_id, metadata)
            decision = self.router.decide(request, self.ids.next(COMMITTED))
            with transaction(self.sessions) as s:
                record_decision(s, self._decision_row(decision, tenant_id, metadata, None))
            return decision

        now = datetime.now(timezone.utc)
        start, end = period_bounds(budget.period, now)
        committed = tenant.committed_usd
        for _ in range(3):
            decision = self.router.decide(replace(
                request, budget_remaining_usd=max(budget.limit_usd - committed, 0.0),
                on_exhausted=budget.on_exhausted,
                budget_retry_after_s=max((end - now).total_seconds(), 1.0)),
                self.ids.next(COMMITTED))
            exhausted = decision.explanation.get("budget", {}).get("exhausted", False)
            with transaction(self.sessions) as s:
                limit = None if exhausted else budget.limit_usd
                if spend.reserve(s, tenant_id, start, decision.estimated_cost_usd, limit):
                    record_decision(s, self._decision_row(decision, tenant_id, metadata, start))
                    tenant.committed_usd = committed + decision.estimated_cost_usd
                    return decision
                committed, _ = spend.counter(s, tenant_id, start)
        tenant.committed_usd = committed
        raise BudgetExhausted("the tenant's budget is being used up by concurrent requests; "
                              "retry shortly", 1.0)

    def _decide_and_queue(self, writer: DecisionWriter, request: RouteRequest,
                          tenant_id: str | None, metadata: dict | None) -> RouteDecision:
        """Decide and queue the decision for the background writer, its id drawn in queue
        order (see ``decision_ids``: what lets another process tell in-flight from unknown).
        Deciding under the lock costs little: a decision is a fraction of a millisecond of
        mostly GIL-bound work, and the API makes most of them on its event loop's one thread."""
        with self.ids.lock:
            decision = self.router.decide(request, self.ids.next(BATCHED))
            queued = writer.submit(self._decision_values(decision, tenant_id, metadata))
        if not queued:
            decision.explanation["logged"] = False
        return decision

    def routes_in_memory(self, tenant_id: str | None) -> bool:
        """Whether ``route(..., batched=True)`` for this tenant does no I/O (no budget)."""
        tenant = self.tenants.get(tenant_id) if tenant_id is not None else None
        return (self.settings.decision_batching and self.decision_writer is not None
                and (tenant is None or tenant.budget is None))

    @staticmethod
    def _decision_values(decision: RouteDecision, tenant_id: str | None, metadata: dict | None,
                         budget_period_start: datetime | None = None) -> dict:
        """The ``decisions`` row of a decision, by column name."""
        return dict(
            id=decision.decision_id, tenant_id=tenant_id,
            created_at=datetime.now(timezone.utc), model_id=decision.model,
            propensity=decision.propensity, policy=decision.policy,
            policy_version=decision.policy_version, cost_weight=decision.cost_weight,
            features=encode_features(decision.features), candidates=decision.candidates,
            input_tokens_est=decision.input_tokens, output_tokens_est=decision.output_tokens,
            estimated_cost_usd=decision.estimated_cost_usd,
            scores=decision.explanation["models"], metadata=metadata,
            budget_period_start=budget_period_start,
        )

    @classmethod
    def _decision_row(cls, decision: RouteDecision, tenant_id: str | None, metadata: dict | None,
                      budget_period_start: datetime | None) -> DecisionRow:
        values = cls._decision_values(decision, tenant_id, metadata, budget_period_start)
        values["request_metadata"] = values.pop("metadata")
        return DecisionRow(**values)

    def feedback(self, decision_id: str, outcome: Outcome, *,
                 tenant_id: str | None = None) -> tuple[int, bool]:
        """Record an outcome exactly once and settle what the decision cost.

        Returns (feedback id, created); the row is committed when this returns. It is
        committed together with whatever other feedback is queued (group commit), and only
        after its decision's row is committed, so an acknowledged outcome never refers to a
        decision that a crash could lose. Raises :class:`NotFound`, :class:`Conflict`, or
        :class:`Unavailable` while the decision waits for an unreachable database.
        """
        if self.feedback_committer is None:  # not started yet: the committer owns settling
            self._start_writers()
        deadline = self.lookup.deadline()
        state = self.wait_for_decision(decision_id, deadline)
        self._check_logged(decision_id, state)
        return self._feedback_until(decision_id, outcome, tenant_id, state, deadline)

    def _feedback_until(self, decision_id: str, outcome: Outcome, tenant_id: str | None,
                        state: Logged, deadline: float, misses: int = 0) -> tuple[int, bool]:
        """Submit to the group commit until the decision is found (``lookup.until_found``),
        answering by ``deadline`` at the latest."""
        def commit() -> tuple[int, bool]:
            return self.lookup.committed(
                self.feedback_committer.submit(decision_id, outcome, tenant_id), deadline)

        return self.lookup.until_found(commit, decision_id, tenant_id, state, deadline, misses)

    async def feedback_async(self, decision_id: str, outcome: Outcome, *,
                             tenant_id: str | None = None) -> tuple[int, bool]:
        """:meth:`feedback` for the event loop: awaits the group commit without holding a
        thread (a thread is used only when the decision is still in this process's buffer,
        or is not found at the first look)."""
        writer, committer = self.decision_writer, self.feedback_committer
        deadline = self.lookup.deadline()
        state = writer.wait_logged(decision_id, 0.0) if writer is not None else Logged.UNKNOWN
        if committer is None or state is Logged.PENDING:
            return await asyncio.to_thread(self.feedback, decision_id, outcome,
                                           tenant_id=tenant_id)
        self._check_logged(decision_id, state)
        future = committer.submit(decision_id, outcome, tenant_id)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future),
                                          max(deadline - time.monotonic(), 0.0))
        except asyncio.TimeoutError:  # the wrapped future's cancellation cancels the commit
            raise self.lookup.too_slow() from None
        except NotFound:
            pass
        return await asyncio.to_thread(self._feedback_until, decision_id, outcome, tenant_id,
                                       state, deadline, 1)

    def wait_for_decision(self, decision_id: str, deadline: float | None = None) -> Logged:
        """Return once a decision this process routed is committed (at once for others), or
        at ``deadline``; says whether it was in this process's buffer."""
        if self.decision_writer is None:
            return Logged.UNKNOWN
        deadline = self.lookup.deadline() if deadline is None else deadline
        return self.decision_writer.wait_logged(decision_id,
                                                max(deadline - time.monotonic(), 0.0))

    @staticmethod
    def _check_logged(decision_id: str, state: Logged) -> None:
        if state is Logged.PENDING:
            raise Unavailable(f"decision {decision_id!r} is not logged yet (the database is "
                              "unavailable); nothing was stored, retry later")
        if state is Logged.UNLOGGED:
            raise NotFound(f"decision {decision_id!r} was answered while the database was "
                           "unavailable and could not be logged; its feedback cannot be stored")

    def _charged(self, session: Session, decision: DecisionRow, outcome: Outcome,
                 usage_cost_usd: float | None = None, reporter_tenant_id: str | None = None
                 ) -> float:
        """What a decision is charged against its tenant's budget.

        The service's own figure is the proxy's measured cost (``usage_cost_usd``), else the
        estimate made when routing. What the app reports (``cost_usd``, else its tokens × the
        model's prices) can raise the charge above that, never lower it: otherwise an app could
        lift its own hard budget by reporting ``cost_usd: 0``. It is taken as reported only
        from a trusted reporter: the service itself or the operator key (no
        ``reporter_tenant_id``), or a tenant the operator marked ``trust_reported_cost``."""
        measured = usage_cost_usd if usage_cost_usd is not None else decision.estimated_cost_usd
        reported = self._reported_cost(session, decision, outcome)
        if reported is None:
            return measured
        tenant = self.tenants.get(reporter_tenant_id) if reporter_tenant_id is not None else None
        if reporter_tenant_id is None or (tenant is not None and tenant.trust_reported_cost):
            return reported
        return max(reported, measured)

    def _reported_cost(self, session: Session, decision: DecisionRow,
                       outcome: Outcome) -> float | None:
        """The feedback's cost_usd, else its tokens × the model's prices, else None."""
        if outcome.cost_usd is not None:
            return outcome.cost_usd
        if outcome.input_tokens is None and outcome.output_tokens is None:
            return None
        spec = self.router.models.get(decision.model_id)
        if spec is None:
            row = session.get(ModelRow, decision.model_id)
            spec = to_spec(row) if row is not None else None
        if spec is None:
            return None
        n_in = outcome.input_tokens if outcome.input_tokens is not None else decision.input_tokens_est
        n_out = (outcome.output_tokens if outcome.output_tokens is not None
                 else decision.output_tokens_est)
        return spec.cost_usd(n_in, n_out)

    # -- tenants and keys -----------------------------------------------------------------
    def authenticate(self, secret: str) -> tenant_store.Principal | None:
        """The caller's principal. Asks the database every time, so a revocation takes
        effect at once; only while the database is unreachable does a key that it confirmed
        within ``auth_cache_ttl_s`` keep working."""
        admin = self._operator(secret)
        if admin is not None:
            return admin
        digest = tenant_store.hash_key(secret)
        try:
            row = tenant_store.key_row(self.engine, digest)
        except DBAPIError as exc:
            return self._confirmed_recently(digest, exc)
        return self._principal(digest, row)

    async def authenticate_async(self, secret: str) -> tenant_store.Principal | None:
        """:meth:`authenticate` on the event loop, without a thread-pool hop (Postgres)."""
        admin = self._operator(secret)
        if admin is not None or self.key_reader is None:
            return admin or self.authenticate(secret)
        digest = tenant_store.hash_key(secret)
        try:
            found = await self.key_reader.fetchone(tenant_store.KEY_SQL, (digest,))
        except DBAPIError as exc:
            return self._confirmed_recently(digest, exc)
        return self._principal(digest, tenant_store.KeyRow(*found) if found is not None else None)

    def _operator(self, secret: str) -> tenant_store.Principal | None:
        configured = self.settings.admin_key
        if configured is not None and hmac.compare_digest(
                secret.encode(), configured.get_secret_value().encode()):
            return tenant_store.Principal(role="admin", tenant_id=None, key_id=None)
        return None

    def _confirmed_recently(self, digest: str, exc: DBAPIError) -> tenant_store.Principal:
        """The database is unreachable: a key it confirmed lately, or the error again."""
        if not _transient(exc):
            raise exc
        with self._auth_lock:
            hit = self._auth_cache.get(digest)
        if hit is not None and time.monotonic() - hit[1] <= self.settings.auth_cache_ttl_s:
            return hit[0]
        raise exc

    def _principal(self, digest: str,
                   row: tenant_store.KeyRow | None) -> tenant_store.Principal | None:
        """The principal of a looked-up key; remembers it for use during an outage."""
        principal = tenant_store.principal_of(row, digest)
        with self._auth_lock:
            if principal is None:
                self._auth_cache.pop(digest, None)
                return None
            self._auth_cache[digest] = (principal, time.monotonic())
            self._auth_cache.move_to_end(digest)
            if len(self._auth_cache) > 10_000:
                self._auth_cache.popitem(last=False)
        return principal

    def ensure_operator_key(self) -> str | None:
        """Create an operator key when none is configured or stored; returns it (shown once)."""
        if self.settings.admin_key is not None:
            return None
        with transaction(self.sessions) as s:
            exclusive_xact_lock(s, OPERATOR_KEY_LOCK)
            if tenant_store.has_operator_key(s):
                return None
            return tenant_store.issue_key(s, None, role="admin", name="operator").secret

    def sync_tenants(self) -> None:
        with self.sessions() as s:
            rows = tenant_store.list_tenants(s)
        self.tenants = {r.id: TenantState.from_row(r, self.tenants.get(r.id)) for r in rows}

    def _pace(self, session: Session) -> None:
        reconcile = time.monotonic() - self._last_reconcile >= self.settings.reconcile_interval_s
        pace_tenants(session, list(self.tenants.values()), reconcile=reconcile,
                     posterior=self.router.posterior, models=self.router.models,
                     default_cost_weight=self.settings.cost_weight)
        if reconcile:
            self._last_reconcile = time.monotonic()

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
        with self.sessions() as s:
            self.router.set_models([to_spec(r) for r in list_models(s)])

    def sync(self, *, latency: bool = True) -> None:
        """Load the newest posterior version (if newer) and the current line-up; with
        ``latency``, also recompute the per-model p95 latency (a heavier query, which the
        scheduler runs only every ``latency_refresh_s``)."""
        with self._sync_lock, self.sessions() as s:
            newest = latest_version(s)
            if newest is not None and newest != self.router.posterior.version:
                row = load_posterior(s, newest)
                cfg = self.refit_config
                if not fitted_on(row, cfg.features, cfg.dim):
                    if newest != self._skipped_version:  # say it once per version
                        self._skipped_version = newest
                        log.warning("posterior version %d was fitted on other features (%s, "
                                    "size %d) than this process makes (%s, size %d): not "
                                    "served; the refit learns a new one", newest,
                                    row.feature_spec or "hashed n-grams", row.feature_dim,
                                    cfg.features, cfg.dim)
                else:
                    post = Posterior.from_bytes(row.payload)
                    post.version = int(row.version)
                    self.router.set_posterior(post)
                    self.posterior_loaded = True
                    self._served_watermark = int(row.watermark)
                    log.info("loaded posterior version %d", row.version)
            elif newest is not None:
                self.posterior_loaded = True
            self.router.set_models([to_spec(r) for r in list_models(s)])
            self.router.set_rules(load_rule_book(s))
            if latency:
                self.router.latency_p95 = recent_p95(s, self.settings.latency_window_s)
                self._last_latency = time.monotonic()
            self._observe_learning(s)
            s.rollback()
            self.sync_tenants()
            self._pace(s)

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
        checks["models"] = self._models_check()
        writer = self.decision_writer
        if writer is not None:
            checks["decision_log"] = ("ok" if writer.healthy else
                                      f"retrying ({writer.last_error}); "
                                      f"{writer.buffered} decisions buffered")
            if writer.unlogged_count:
                checks["decision_log"] += f"; {writer.unlogged_count} decisions unlogged"
        ok = checks["database"] == "ok" and self.posterior_loaded and bool(self.router.models)
        return ok, checks

    def _models_check(self) -> str:
        """Readiness of the line-up: with no model registered every route would be a 503."""
        n = len(self.router.models)
        return (f"{n} registered" if n else "none registered: register one with "
                "PUT /v1/models/{id} or start with --models FILE")

    def _scheduled_refit(self) -> None:
        try:
            self.refit()
        except Exception:
            log.exception("scheduled refit failed; the previous posterior keeps serving")

    def _scheduled_sync(self) -> None:
        try:
            due = time.monotonic() - self._last_latency >= self.settings.latency_refresh_s
            self.sync(latency=due)
        except Exception:
            metrics.DB_ERRORS.labels("sync").inc()
            log.exception("posterior sync failed; will retry")


def _count_settled(settled: list[Settled]) -> None:
    """Spend and reward counters, as each feedback batch commits."""
    for item in settled:
        metrics.SPEND.labels(item.tenant_id or "-", item.model_id).inc(max(item.charged_usd, 0.0))
        if item.reward is not None:
            metrics.REWARD.labels(item.model_id).observe(item.reward)
