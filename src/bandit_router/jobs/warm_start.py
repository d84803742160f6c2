"""Warm start the stored posterior from offline evaluations (prompts × models → score).

The evaluations become full-information evidence (:mod:`bandit_router.policy.warm`) added
to the newest posterior's statistics (or to empty ones), and the fit is stored as a new
version with the same feedback watermark: the next refit continues from it and adds the
live feedback as usual. Only registered models learn; models the file does not evaluate
keep what they had (the prior, on a new deployment).

When the file gives each call's price (``|total_cost`` columns), the cost regression learns
it too: against the price the router would have estimated for that prompt (the model's
catalog prices × the prompt's estimated tokens + the service's default answer length), as
the refit learns live charges against the decision's estimate.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from bandit_router.features import Featurizer, estimate_tokens
from bandit_router.jobs.refit import RefitConfig, with_refit_lock
from bandit_router.policy import Posterior, SufficientStats
from bandit_router.policy import warm_start as learn_offline
from bandit_router.store.models import list_models
from bandit_router.store.posteriors import fitted_on, load_posterior, record_posterior

log = logging.getLogger(__name__)


class WarmStartError(ValueError):
    """Offline evaluations that cannot be used, with a message saying what to fix."""


@dataclass(frozen=True)
class WarmStartResult:
    version: int | None  # None when the refit lock was held by another process
    requests: int  # evaluated prompts used
    models: tuple[str, ...]  # registered models that learned from them
    ignored: tuple[str, ...]  # models in the file that are not registered
    seconds: float


def warm_start(engine: Engine, cfg: RefitConfig, featurizer: Featurizer, prompts: Sequence[str],
               models: Sequence[str], scores: np.ndarray, weight: float = 1.0,
               now: float | None = None, charged: np.ndarray | None = None,
               output_tokens: int = 256) -> WarmStartResult:
    """Store a new posterior version that has learned ``scores[i, j]`` (model ``models[j]``
    on ``prompts[i]``), each offline observation counting ``weight`` live ones, and, given
    ``charged[i, j]`` (that call's price in USD; NaN: unknown), what each call cost against
    its catalog estimate with ``output_tokens`` of answer."""
    start = time.perf_counter()
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (len(prompts), len(models)):
        raise WarmStartError("the evaluations need one score per model for every prompt")
    if charged is not None:
        charged = np.asarray(charged, dtype=np.float64)
        if charged.shape != scores.shape:
            raise WarmStartError("the evaluations need one price per score")
    if not weight > 0:
        raise WarmStartError("the weight of offline evidence must be positive")

    def work(session: Session) -> WarmStartResult:
        registered = {r.id: r for r in list_models(session)}
        use = [j for j, m in enumerate(models) if m in registered]
        ignored = tuple(m for m in models if m not in registered)
        if not use:
            raise WarmStartError(f"none of the evaluated models ({', '.join(models)}) is "
                                 "registered; register them first (bandit-router serve --models)")
        t = time.time() if now is None else now
        X = featurizer.transform_many(list(prompts))
        if X.shape[1] != cfg.dim:
            raise WarmStartError(f"the featuriser makes {X.shape[1]} features, the service "
                                 f"{cfg.dim}")
        row = load_posterior(session)
        prev = None
        if row is not None and fitted_on(row, cfg.features, cfg.dim):
            prev = Posterior.from_bytes(row.payload)
        stats = prev.stats if prev is not None else SufficientStats.empty([], cfg.dim, t=t)
        estimate = None
        if charged is not None:
            tokens = np.array([estimate_tokens(p) for p in prompts], dtype=np.float64)
            rows = [registered[models[j]] for j in use]
            estimate = (tokens[:, None] * np.array([r.input_price_per_mtok for r in rows])
                        + output_tokens * np.array([r.output_price_per_mtok for r in rows])
                        ) / 1e6
        posterior = learn_offline(cfg.spec, stats, [models[j] for j in use], X,
                                  scores[:, use], t, weight, estimate=estimate,
                                  charged=None if charged is None else charged[:, use]
                                  ).posterior
        version = record_posterior(
            session, policy=cfg.spec.kind, feature_dim=cfg.dim, feature_spec=cfg.features,
            watermark=row.watermark if prev is not None else 0,
            n_feedback=row.n_feedback if prev is not None else 0,
            fit_seconds=time.perf_counter() - start, payload=posterior.to_bytes())
        session.commit()
        log.info("warm start stored posterior version %d from %d evaluated prompts",
                 version, len(prompts))
        return WarmStartResult(version, len(prompts), tuple(models[j] for j in use), ignored,
                               time.perf_counter() - start)

    out = with_refit_lock(engine, work)
    if out is None:
        return WarmStartResult(None, 0, (), (), time.perf_counter() - start)
    return out
