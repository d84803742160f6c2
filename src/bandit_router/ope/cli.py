"""``bandit-router evaluate``: wiring from flags to data, candidate, estimators and report.

The main CLI registers it with ``app.command("evaluate")(evaluate)`` and hands it, as
``ctx.obj.load_contexts`` (a :data:`ContextLoader`), the reader of the data a simulation
replayed: off-policy evaluation itself knows nothing of the ``simulations`` package.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import typer

from bandit_router.ope.data import LogError, LoggedBandit
from bandit_router.ope.meta import EvaluationConfig, evaluate_policy
from bandit_router.ope.overlap import OverlapThresholds
from bandit_router.ope.report import render, to_dict
from bandit_router.ope.target import (
    Candidate,
    PosteriorSource,
    ReplayedPosteriors,
    action_probabilities,
    replay_versions,
)

ContextLoader = Callable[[Path, list[str], list[Path], int],
                         tuple[tuple[str, ...], np.ndarray, np.ndarray]]
"""(``--data``, ``--cost``, ``--models``, ``--output-tokens``) → the replayed requests' model
names, contexts (n, d) and per-model prices (n, K), in file order; raises LogError."""


def evaluate(
    ctx: typer.Context,
    candidate: str = typer.Option("thompson", "--candidate",
                                  help="thompson | linucb | uniform | fixed:MODEL"),
    cost_weight: Optional[float] = typer.Option(
        None, "--cost-weight", help="candidate's λ in reward − λ·cost [each decision's logged λ]"),
    alpha: Optional[float] = typer.Option(None, "--alpha", help="LinUCB width [settings]"),
    exploration: Optional[float] = typer.Option(
        None, "--exploration", help="posterior spread scale [as logged]"),
    propensity_floor: Optional[float] = typer.Option(
        None, "--propensity-floor", help="candidate's exploration floor [settings]"),
    database_url: Optional[str] = typer.Option(
        None, "--database-url", help="read logged decisions from here [the service's database]"),
    since: Optional[datetime] = typer.Option(None, "--since", help="decisions made at or after"),
    until: Optional[datetime] = typer.Option(None, "--until", help="decisions made before"),
    tenant: Optional[str] = typer.Option(None, "--tenant", help="only this tenant's decisions"),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="the newest N decisions"),
    log: Optional[Path] = typer.Option(
        None, "--log", help="an archive FILE.parquet (bandit-router export), or a simulation "
        "log CSV (step, request_id, model, propensity, reward, cost_usd), instead of the "
        "database"),
    run: Optional[str] = typer.Option(None, "--run",
                                      help="POLICY:SEED:COST_WEIGHT of a multi-run log"),
    data: Optional[Path] = typer.Option(
        None, "--data", help="the RouteLLM-style CSV file or directory the simulation replayed "
        "(gives contextual candidates their contexts)"),
    cost: list[str] = typer.Option([], "--cost", help="MODEL=USD, as given to simulate"),
    models: list[Path] = typer.Option([], "--models", help="models TOML, as given to simulate"),
    output_tokens: int = typer.Option(256, "--output-tokens", help="as given to simulate"),
    refit_every: int = typer.Option(100, "--refit-every", min=1,
                                    help="log decisions per replayed refit"),
    half_life: float = typer.Option(5000.0, "--half-life",
                                    help="replayed discount half-life in decisions; 0 = none"),
    boot: int = typer.Option(1000, "--boot", min=2, help="bootstrap resamples"),
    level: float = typer.Option(0.95, "--level", help="interval coverage"),
    folds: int = typer.Option(5, "--folds", min=1, help="cross-fitting folds of the DR model"),
    seed: int = typer.Option(0, "--seed", help="seeds folds and bootstrap"),
    min_ess: float = typer.Option(OverlapThresholds.min_ess, "--min-ess"),
    min_ess_ratio: float = typer.Option(OverlapThresholds.min_ess_ratio, "--min-ess-ratio"),
    max_weight_share: float = typer.Option(OverlapThresholds.max_weight_share,
                                           "--max-weight-share"),
    json_path: Optional[Path] = typer.Option(None, "--json", help="also write the result here"),
) -> None:
    """Estimate what a candidate policy would have earned and spent on the logged decisions."""
    from bandit_router.config import Settings

    settings = Settings(**({} if database_url is None else {"database_url": database_url}))
    try:
        cand = Candidate.parse(
            candidate, cost_weight=cost_weight, exploration=exploration,
            alpha=settings.linucb_alpha if alpha is None else alpha,
            propensity_floor=(settings.propensity_floor if propensity_floor is None
                              else propensity_floor),
            floor_mass=settings.floor_mass, floor_prune=settings.floor_prune,
            floor_bounded=settings.floor_bounded, truncate=settings.thompson_truncate)
        config = EvaluationConfig(n_boot=boot, level=level, folds=folds, thresholds=(
            OverlapThresholds(min_ess=min_ess, min_ess_ratio=min_ess_ratio,
                              max_weight_share=max_weight_share)))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    learner = settings.policy_spec()
    try:
        if log is not None and log.suffix == ".parquet":  # an archive (bandit-router export)
            logged, posteriors = _archive(log, learner.prior, since=since, until=until,
                                          tenant_id=tenant, limit=limit)
            result = _estimate(cand, logged, posteriors, config, seed)
        elif log is not None:
            # The replay learns as the simulator's defaults do, in decisions, without the
            # change detector.
            replayed = replace(learner, half_life=half_life or None, drift=None)
            load = getattr(ctx.obj, "load_contexts", None)
            logged, posteriors = _simulation(log, run, data, (cost, models, output_tokens),
                                             load, replayed, refit_every)
            result = _estimate(cand, logged, posteriors, config, seed)
        else:
            result = _from_database(cand, settings, learner.prior, config, seed, since=since,
                                    until=until, tenant_id=tenant, limit=limit)
    except LogError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(render(result))
    if json_path is not None:
        json_path.write_text(json.dumps(to_dict(result), indent=2) + "\n")


def _estimate(cand: Candidate, logged: LoggedBandit, posteriors: PosteriorSource | None,
              config: EvaluationConfig, seed: int):
    target = action_probabilities(cand, logged, posteriors)
    return evaluate_policy(logged, target, np.random.default_rng(seed),
                           cost_weight=cand.cost_weight, candidate=cand.describe(), config=config)


def _from_database(cand, settings, prior, config, seed, **filters):
    from bandit_router.cli_errors import announce_database
    from bandit_router.ope.sources import from_database
    from bandit_router.store.db import engine_for, make_sessionmaker

    announce_database(settings.database_url.get_secret_value())
    engine = engine_for(settings)
    try:
        with make_sessionmaker(engine)() as session:
            logged, posteriors = from_database(session, prior=prior, **filters)
            return _estimate(cand, logged, posteriors, config, seed)
    finally:
        engine.dispose()


def _archive(path, prior, **filters):
    from bandit_router.ope.archive import read_archive
    from bandit_router.ope.sources import from_rows

    rows, versions, payload = read_archive(path, **filters)
    return from_rows(rows, versions, payload, prior=prior)


def _simulation(log: Path, run: str | None, data: Path | None, pricing: tuple,
                load: ContextLoader | None, spec, refit_every: int):
    from bandit_router.ope.sources import read_simulation_log, with_contexts

    logged = read_simulation_log(log, run)
    if data is None:
        return logged, None
    if load is None:
        raise LogError("--data needs the reader of simulation data; run this as "
                       "`bandit-router evaluate`")
    models, X, cost = load(data, *pricing)
    logged = with_contexts(logged, models, X, cost)
    logged = replace(logged, versions=replay_versions(logged.n, refit_every))
    return logged, ReplayedPosteriors(logged, spec, refit_every)
