"""Refit the posteriors from logged feedback, incrementally.

The newest stored posterior carries its sufficient statistics and the id of the last
feedback row it has seen (the watermark). A refit decays those statistics to now, adds the
rows that arrived since, fits, and stores the result as a new version in one transaction:
a refit that crashes half-way stores nothing, and the previous version keeps serving.
Only one process refits at a time (a Postgres advisory lock held in a transaction of its
own, which also holds through PgBouncer's transaction pooling; on SQLite, a process lock).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Iterator

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from bandit_router.config import Settings
from bandit_router.features import FeatureSpec
from bandit_router.policy import Observations, PolicySpec, Posterior, SufficientStats, learn
from bandit_router.store.locks import REFIT_LOCK, held_lock
from bandit_router.store.posteriors import (
    feedback_high_water_mark,
    fitted_on,
    load_posterior,
    record_posterior,
    training_batches,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RefitConfig:
    spec: PolicySpec  # half-life in seconds
    dim: int
    features: str  # FeatureSpec.name: what the posterior's weights are weights of

    @classmethod
    def from_settings(cls, settings: Settings, features: FeatureSpec) -> "RefitConfig":
        """The refit the service runs under ``settings`` for the features ``features``."""
        return cls(spec=settings.policy_spec(), dim=features.dim, features=features.name)


@dataclass(frozen=True)
class RefitResult:
    version: int | None  # the new version, or None when nothing was stored
    new_rows: int
    n_feedback: int
    seconds: float
    reason: str  # "refitted", "up to date", "locked"
    drift_alarms: tuple[str, ...] = ()  # models whose reward changed; their past was forgotten


def refit(engine: Engine, cfg: RefitConfig, *, force: bool = False,
          now: float | None = None) -> RefitResult:
    """Store a new posterior version if there is new feedback (or ``force``)."""
    start = time.perf_counter()
    out = with_refit_lock(engine, lambda s: _refit_locked(s, cfg, force, start, now))
    return RefitResult(None, 0, 0, time.perf_counter() - start, "locked") if out is None else out


def with_refit_lock(engine: Engine, work):
    """``work(session)`` while holding the one-refitter lock; None if another holds it."""
    # The lock is held in a transaction of its own connection (pooler-safe, see locks.py).
    with held_lock(engine, REFIT_LOCK) as mine:
        if not mine:
            return None
        with Session(engine) as session:
            try:
                return work(session)
            finally:
                session.rollback()


def _refit_locked(session: Session, cfg: RefitConfig, force: bool, start: float,
                  now: float | None) -> RefitResult:
    high_water = feedback_high_water_mark(session)
    session.commit()  # releases the exclusive feedback lock at once

    prev_row = load_posterior(session)
    prev = None
    watermark = 0
    if prev_row is not None and fitted_on(prev_row, cfg.features, cfg.dim):
        prev = Posterior.from_bytes(prev_row.payload)
        watermark = prev_row.watermark
    elif prev_row is not None:
        # Other features (a changed BANDIT_ROUTER_FEATURE_* setting). Only feature vectors
        # are logged, not prompts, so the feedback learned so far cannot be featurised
        # again: learning restarts from the prior, with the feedback logged after it.
        watermark = prev_row.watermark
        log.warning(
            "posterior version %d was fitted on other features (%s, size %d) than this "
            "service makes (%s, size %d): learning restarts from the prior with the feedback "
            "received after it; the %d feedback it had learned cannot be featurised again "
            "(prompts are not stored)", prev_row.version,
            prev_row.feature_spec or "hashed n-grams",
            prev_row.feature_dim, cfg.features, cfg.dim, prev_row.n_feedback)
    n_before = prev_row.n_feedback if prev is not None else 0
    if prev is not None and high_water <= watermark and not force:
        return RefitResult(None, 0, n_before, time.perf_counter() - start, "up to date")

    now = time.time() if now is None else now
    stats = prev.stats if prev is not None else SufficientStats.empty([], cfg.dim, t=now)
    learned = learn(cfg.spec, stats, _observations(session, watermark, high_water, cfg), now,
                    fitted=prev)
    new_rows = learned.rows
    for model in learned.drift_alarms:
        log.warning("reward of model %s changed: its evidence before the change now weighs "
                    "%g observations", model, cfg.spec.drift.keep, extra={"model": model})
    posterior = learned.posterior
    seconds = time.perf_counter() - start
    version = record_posterior(
        session, policy=cfg.spec.kind, feature_dim=cfg.dim, feature_spec=cfg.features,
        watermark=max(high_water, watermark),
        n_feedback=n_before + new_rows, fit_seconds=seconds,
        payload=posterior.to_bytes(),
    )
    session.commit()
    log.info("refit stored posterior version %d (%d new rows, %.2fs)", version, new_rows, seconds)
    return RefitResult(version, new_rows, n_before + new_rows, seconds, "refitted",
                       learned.drift_alarms)


def _observations(session: Session, after_id: int, up_to_id: int,
                  cfg: RefitConfig) -> Iterator[Observations]:
    for batch in training_batches(session, after_id, up_to_id, cfg.dim):
        if batch.skipped:
            log.warning("refit skipped %d rows logged with another feature size", batch.skipped)
        yield Observations.of_models(batch.models, batch.X, batch.reward, batch.received_at,
                                     estimate=batch.estimate, charged=batch.charged)
