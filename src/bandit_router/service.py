"""One process's running service: database, router, refit and background sync, wired together
from :class:`Settings`. The HTTP API, the proxy and the CLI all drive this object."""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone

from sqlalchemy.orm import Session, sessionmaker
from threadpoolctl import threadpool_limits

from bandit_router.catalog import ModelSpec, load_catalog
from bandit_router.config import Settings
from bandit_router.features import FeatureSpec, Featurizer
from bandit_router.jobs.refit import RefitConfig, RefitResult, refit
from bandit_router.jobs.scheduler import start_scheduler
from bandit_router.policy import Posterior, Prior, make_policy
from bandit_router.routing import RouteDecision, RouteRequest, Router
from bandit_router.store import migrate
from bandit_router.store.codec import encode_features
from bandit_router.store.db import make_engine, make_sessionmaker, ping, transaction
from bandit_router.store.decisions import Outcome, record_decision, record_feedback
from bandit_router.store.models import list_models, record_model, to_spec
from bandit_router.store.posteriors import latest_version, load_posterior
from bandit_router.store.schema import DecisionRow

log = logging.getLogger(__name__)


class Service:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = make_engine(settings.database_url.get_secret_value())
        self.sessions: sessionmaker[Session] = make_sessionmaker(self.engine)
        spec = FeatureSpec(n_buckets=settings.feature_buckets, max_ngram=settings.feature_ngrams,
                           n_caller=settings.feature_caller_slots)
        self.prior = Prior(precision=settings.prior_precision, optimism=settings.prior_optimism,
                           exploration=settings.exploration)
        self.refit_config = RefitConfig(policy=settings.policy, dim=spec.dim, prior=self.prior,
                                        half_life_s=settings.half_life_s,
                                        error_reward=settings.error_reward)
        self.router = Router(
            Featurizer(spec),
            make_policy(settings.policy, settings.propensity_floor, settings.linucb_alpha),
            Posterior.from_prior([], spec.dim, self.prior, version=0),
            [],
            cost_weight=settings.cost_weight,
            default_output_tokens=settings.default_output_tokens,
        )
        self.posterior_loaded = False
        self._scheduler = None
        self._sync_lock = threading.Lock()

    # -- lifecycle ----------------------------------------------------------------------
    def start(self, *, migrate_db: bool = True, scheduler: bool | None = None) -> None:
        # One BLAS thread per process: with a thread pool per worker, two workers on two
        # cores spend their time contending (measured in the field notes: 6x slower).
        threadpool_limits(limits=self.settings.blas_threads)
        if migrate_db:
            migrate.upgrade(self.engine)
        if self.settings.models_file is not None:
            self.register_models(load_catalog(self.settings.models_file))
        self.sync()
        if not self.posterior_loaded:
            self.refit(force=True)
        run = self.settings.scheduler if scheduler is None else scheduler
        if run:
            self._scheduler = start_scheduler(
                self._scheduled_refit, self._scheduled_sync,
                refit_interval_s=self.settings.refit_interval_s,
                sync_interval_s=self.settings.posterior_poll_s,
            )

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)
            self._scheduler = None
        self.engine.dispose()

    # -- work ---------------------------------------------------------------------------
    def route(self, request: RouteRequest, *, tenant_id: str | None = None,
              metadata: dict | None = None) -> RouteDecision:
        """Decide and durably log the decision; the one entry point of the API and the proxy."""
        decision = self.router.decide(request)
        with transaction(self.sessions) as s:
            record_decision(s, DecisionRow(
                id=decision.decision_id, tenant_id=tenant_id,
                created_at=datetime.now(timezone.utc), model_id=decision.model,
                propensity=decision.propensity, policy=decision.policy,
                policy_version=decision.policy_version, cost_weight=decision.cost_weight,
                features=encode_features(decision.features), candidates=decision.candidates,
                input_tokens_est=decision.input_tokens, output_tokens_est=decision.output_tokens,
                estimated_cost_usd=decision.estimated_cost_usd,
                scores=decision.explanation["models"], request_metadata=metadata,
            ))
        return decision

    def feedback(self, decision_id: str, outcome: Outcome, *,
                 tenant_id: str | None = None) -> tuple[int, bool]:
        """Record an outcome exactly once; returns (feedback id, created). Committed on return."""
        with transaction(self.sessions) as s:
            row, created = record_feedback(s, decision_id, outcome, tenant_id)
        return int(row.id), created

    def register_models(self, specs: list[ModelSpec]) -> None:
        with transaction(self.sessions) as s:
            for spec in specs:
                record_model(s, spec)
        self.sync_models()

    def sync_models(self) -> None:
        with self.sessions() as s:
            self.router.set_models([to_spec(r) for r in list_models(s)])

    def sync(self) -> None:
        """Load the newest posterior version (if newer) and the current line-up."""
        with self._sync_lock, self.sessions() as s:
            newest = latest_version(s)
            if newest is not None and newest != self.router.posterior.version:
                row = load_posterior(s, newest)
                if row.feature_dim == self.refit_config.dim:
                    post = Posterior.from_bytes(row.payload)
                    post.version = int(row.version)
                    self.router.set_posterior(post)
                    self.posterior_loaded = True
                    log.info("loaded posterior version %d", row.version)
            elif newest is not None:
                self.posterior_loaded = True
            self.router.set_models([to_spec(r) for r in list_models(s)])

    def refit(self, force: bool = False) -> RefitResult:
        result = refit(self.engine, self.refit_config, force=force)
        if result.version is not None:
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
        return checks["database"] == "ok" and self.posterior_loaded, checks

    def _scheduled_refit(self) -> None:
        try:
            self.refit()
        except Exception:
            log.exception("scheduled refit failed; the previous posterior keeps serving")

    def _scheduled_sync(self) -> None:
        try:
            self.sync()
        except Exception:
            log.exception("posterior sync failed; will retry")
