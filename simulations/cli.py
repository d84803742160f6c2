"""``bandit-router simulate``: replay real or synthetic traffic through several policies.

The main CLI runs :func:`command` when asked to simulate; ``python -m simulations`` runs it
alone.

Past 300 lines on purpose: the simulate command's options (data, scenario, sweep, warm start,
features, cost grid, policy knobs) and their one-line validation are the researcher's whole
interface; the work is in runner.py, experiment.py, frontier.py and plots.py.
"""

from __future__ import annotations

import json
import time
from dataclasses import fields, replace
from pathlib import Path
from typing import Optional

import click
import numpy as np
import typer

from bandit_router.features import DEFAULT_SPEC, FeatureSpec, Featurizer, featurizer_for
from bandit_router.policy import DriftDetector, PolicySpec, Prior
from simulations import experiment, report
from simulations.data import (
    DEFAULT_STEPS,
    SCENARIOS,
    DataError,
    Scenario,
    load_responses,
    parse_costs,
    read_responses,
    read_warm_start,
    synthetic,
    warm_split,
)
from simulations.runner import KINDS, PolicyConfig

DEFAULT_POLICIES = "thompson,linucb,epsilon-greedy,contextfree-thompson,random,cheapest," \
                   "strongest,oracle,ceiling"


def build_policies(names: str, refit_every: int, spec: PolicySpec,
                   warm_weight: float = 1.0) -> list[PolicyConfig]:
    """``"thompson,linucb:alpha=0.5,thompson:half_life=none"`` → policy configs.

    Knobs after ``:`` override the command's options (``refit_every`` and ``spec``) for that
    policy only: any field of :class:`PolicySpec` or of its prior, and ``drift_*`` for the
    detector's. The label is the text as written, so two variants of one policy can run side
    by side.
    """
    out = []
    for raw in [s.strip() for s in names.split(",") if s.strip()]:
        kind, _, rest = raw.partition(":")
        if kind not in KINDS:
            raise typer.BadParameter(f"unknown policy {kind!r}; choose from {', '.join(KINDS)}")
        knobs = [p.partition("=")[::2] for p in rest.split(":") if p]
        try:
            every, variant = _with_knobs(refit_every, spec, knobs)
            out.append(PolicyConfig(kind=kind, label=raw, refit_every=every, spec=variant,
                                    warm_weight=warm_weight))
        except (KeyError, ValueError) as exc:
            raise typer.BadParameter(f"{exc.args[0]} in policy {raw!r}") from None
    return out


_NONE = ("none", "0", "inf")


def _with_knobs(refit_every: int, spec: PolicySpec,
                knobs: list[tuple[str, str]]) -> tuple[int, PolicySpec]:
    top, prior, drift = {}, {}, {}
    spec_fields = {f.name for f in fields(PolicySpec)} - {"kind", "prior", "drift"}
    for key, value in knobs:
        key = key.replace("-", "_")
        if key == "refit_every":
            refit_every = int(value)
        elif key in {f.name for f in fields(Prior)}:
            current = getattr(spec.prior, key)
            prior[key] = (value if isinstance(current, str)
                          else None if value.lower() == "none" else float(value))
        elif key == "half_life":
            top[key] = None if value.lower() in _NONE else float(value)
        elif key == "drift" and value.lower() == "none":
            drift = None
        elif key in ("drift_slack", "drift_threshold", "drift_keep"):
            if drift is not None:
                drift[key.removeprefix("drift_")] = float(value)
        elif key in spec_fields and isinstance(getattr(spec, key), bool):
            if value.lower() not in ("0", "1", "true", "false", "on", "off"):
                raise ValueError(f"knob {key!r} takes 0 or 1, got {value!r}")
            top[key] = value.lower() in ("1", "true", "on")
        elif key in spec_fields:
            top[key] = float(value)
        else:
            raise KeyError(f"unknown knob {key!r}")
    if drift is None:
        top["drift"] = None
    elif drift:
        top["drift"] = replace(spec.drift or DriftDetector(), **drift)
    return refit_every, replace(spec, prior=replace(spec.prior, **prior), **top)


def simulate(
    data: Optional[Path] = typer.Option(None, "--data", help="RouteLLM-style CSV file or directory"),
    scenario: Optional[str] = typer.Option(
        None, "--scenario", help="synthetic scenario: " + ", ".join(SCENARIOS)),
    models: list[Path] = typer.Option([], "--models", help="models TOML (the service's format) "
                                      "for prices; repeatable"),
    cost: list[str] = typer.Option([], "--cost", help="MODEL=USD flat price per request; "
                                   "repeatable; overrides --models"),
    output_tokens: int = typer.Option(256, "--output-tokens",
                                      help="assumed answer length when pricing from a catalog"),
    policies: str = typer.Option(DEFAULT_POLICIES, "--policies",
                                 help="comma-separated; knobs as kind:key=value"),
    sweep: bool = typer.Option(False, "--sweep", help="sweep the cost weight λ (two models: "
                               "PGR, APGR, CPT)"),
    sweep_points: int = typer.Option(16, "--sweep-points", help="λ values in the sweep"),
    cost_weight: float = typer.Option(0.0, "--cost-weight", help="λ in reward − λ·cost "
                                      "when not sweeping"),
    cost_weights: Optional[str] = typer.Option(
        None, "--cost-weights", help="explicit λ values of the sweep, comma-separated, in "
        "USD⁻¹ (e.g. 0,10,20,40,80,160); implies --sweep; default: an automatic grid of "
        "--sweep-points values"),
    seeds: int = typer.Option(1, "--seeds", help="number of seeds (stream orders / worlds)"),
    seed: int = typer.Option(0, "--seed", help="first seed; runs are reproducible per seed"),
    steps: Optional[int] = typer.Option(None, "--steps", help="requests per run (synthetic "
                                        "length, or a prefix of the shuffled real stream)"),
    refit_every: int = typer.Option(100, "--refit-every", help="feedback events per refit"),
    half_life: float = typer.Option(5000.0, "--half-life", help="discount half-life in "
                                    "requests; 0 disables discounting"),
    alpha: float = typer.Option(1.0, "--alpha", help="LinUCB width"),
    epsilon: float = typer.Option(0.05, "--epsilon", help="ε of ε-greedy"),
    propensity_floor: float = typer.Option(PolicySpec.propensity_floor, "--propensity-floor"),
    precision: float = typer.Option(Prior().precision, "--prior-precision"),
    exploration: float = typer.Option(Prior().exploration, "--exploration",
                                      help="Thompson posterior spread multiplier"),
    n_buckets: int = typer.Option(DEFAULT_SPEC.n_buckets, "--n-buckets",
                                  help="size of the word block: hashed n-gram buckets, or "
                                  "WordLlama dimensions (32, 64, 128, 256)"),
    max_ngram: int = typer.Option(DEFAULT_SPEC.max_ngram, "--max-ngram",
                                  help="longest hashed word n-gram (1 = unigrams only)"),
    featurizer_name: str = typer.Option(
        DEFAULT_SPEC.words, "--featurizer", help="word block of the features, as the "
        "service's BANDIT_ROUTER_FEATURE_WORDS: wordllama (static word embeddings) or hashed "
        "(signed hashed word n-grams)"),
    features: Optional[Path] = typer.Option(
        None, "--features", help="precomputed request features (.npy, one row per request "
        "of --data in file order, e.g. from `python -m simulations.embed`) instead of the "
        "service's featuriser"),
    warm_start: Optional[Path] = typer.Option(
        None, "--warm-start", help="offline evaluations (same CSV format as --data) that every "
        "learner fits with full information before replaying the stream"),
    warm_start_fraction: Optional[float] = typer.Option(
        None, "--warm-start-fraction", help="warm start from this leading share of each "
        "shuffle of --data, and replay (and score) only the rest"),
    warm_start_weight: float = typer.Option(1.0, "--warm-start-weight",
                                            help="what one offline observation counts against "
                                            "one live one"),
    window: int = typer.Option(250, "--window", help="requests averaged for recovery time"),
    tolerance: float = typer.Option(0.05, "--tolerance", help="recovered when within this "
                                    "share of the post-change oracle's reward"),
    workers: int = typer.Option(0, "--workers", help="processes; 0 = one per core"),
    log: Optional[Path] = typer.Option(None, "--log", help="per-request log (.csv, or "
                                       ".parquet with pyarrow)"),
    json_path: Optional[Path] = typer.Option(None, "--json", help="write the summary here"),
    plots: Optional[Path] = typer.Option(None, "--plots", help="directory for PNG plots"),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Replay traffic through the service's policies and compare them offline."""
    started = time.perf_counter()
    if (data is None) == (scenario is None):
        raise typer.BadParameter("pass exactly one of --data PATH or --scenario NAME")
    if data is not None and data.name.endswith(".parquet"):
        raise typer.BadParameter(
            f"{data} looks like a decision-log archive (bandit-router export): it holds only "
            "the reward of the model each decision chose, and a simulation needs every "
            "model's reward for every request. Estimate other policies from it with "
            f"`bandit-router evaluate --log {data}` (docs/operations.md, Archive)")
    if features is not None and data is None:
        raise typer.BadParameter("--features replaces the features of --data; synthetic "
                                 "scenarios make their own")
    if warm_start is not None and warm_start_fraction is not None:
        raise typer.BadParameter("pass --warm-start PATH or --warm-start-fraction F, not both")
    if warm_start is not None and features is not None:
        raise typer.BadParameter("--warm-start files are featurised by the service's "
                                 "featuriser; with --features use --warm-start-fraction")
    if not warm_start_weight > 0:
        raise typer.BadParameter("--warm-start-weight must be positive")
    grid_given = _parse_grid(cost_weights) if cost_weights is not None else None
    sweep = sweep or grid_given is not None
    featurizer = _featurizer(featurizer_name, FeatureSpec(n_buckets=n_buckets,
                                                          max_ngram=max_ngram))
    try:
        # the word block's length, for Prior.subspace (a --features file: all from head on)
        words = None if features is not None else featurizer.spec.n_buckets
        spec = PolicySpec(propensity_floor=propensity_floor, alpha=alpha, epsilon=epsilon,
                          half_life=half_life or None,
                          prior=Prior(precision=precision, exploration=exploration,
                                      words=words))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    configs = build_policies(policies, refit_every, spec, warm_start_weight)
    seed_list = list(range(seed, seed + seeds))
    try:
        if data is not None:
            base = load_responses(data, featurizer, parse_costs(cost), models, output_tokens,
                                  features)
            datasets = {}
            for s in seed_list:
                d = base.shuffled(np.random.default_rng(s))
                if warm_start_fraction is not None:
                    d = warm_split(d, warm_start_fraction)
                datasets[s] = d.take(np.arange(min(steps, d.n))) if steps else d
        else:
            sc = Scenario(steps=steps or DEFAULT_STEPS.get(scenario, Scenario.steps))
            datasets = {s: synthetic(scenario, s, sc, featurizer) for s in seed_list}
            if warm_start_fraction is not None:
                datasets = {s: warm_split(d, warm_start_fraction) for s, d in datasets.items()}
        if warm_start is not None:
            warm, unknown = read_warm_start(warm_start, datasets[seed_list[0]].models,
                                            featurizer)
            if unknown:
                typer.echo(f"warning: {warm_start}: ignoring models that are not in the "
                           f"stream: {', '.join(unknown)}", err=True)
            warm_prompts = tuple(read_responses(warm_start).prompts)
            datasets = {s: replace(d, warm=warm, warm_prompts=warm_prompts)
                        for s, d in datasets.items()}
    except DataError as exc:
        raise typer.BadParameter(str(exc)) from None
    first = datasets[seed_list[0]]
    two_models = first.k == 2
    if grid_given is not None:
        grid = grid_given
    else:
        grid = (experiment.cost_weight_grid(first, sweep_points) if sweep
                else np.array([cost_weight]))
    tasks = [experiment.Task(s, c, float(lam))
             for c in configs for s in seed_list
             for lam in (grid if c.uses_cost_weight else grid[:1])]
    n_workers = workers or experiment.default_workers()
    logs = experiment.run_tasks(datasets, tasks, n_workers, progress)
    runs = [experiment.metrics.summarize(lg, datasets[lg.seed], window, tolerance)
            for lg in logs]
    summary = {
        "data": str(data) if data is not None else f"scenario:{scenario}",
        "models": list(first.models),
        "steps": first.n,
        "seeds": seed_list,
        "cost_weights": [float(x) for x in grid],
        "mean_cost_usd": {m: float(c) for m, c in zip(first.models, first.billed.mean(axis=0))},
        "mean_quality": {m: float(q) for m, q in zip(first.models, first.reward.mean(axis=0))},
        "drift_step": first.drift_step,
        "warm_start": ({"file": str(warm_start), "weight": warm_start_weight}
                       if warm_start is not None else
                       {"fraction": warm_start_fraction, "requests": len(first.warm[0]),
                        "weight": warm_start_weight}
                       if warm_start_fraction is not None else None),
        "features": ({"file": str(features), "dim": first.X.shape[1]} if features is not None
                     else {"n_buckets": n_buckets, "max_ngram": max_ngram,
                           "dim": featurizer.spec.dim,
                           "featurizer": featurizer_name, "name": featurizer.spec.name}),
        "policies": {c.label: c.describe() for c in configs},
        "results": experiment.policy_summary(runs),
        "runs": runs,
    }
    if sweep:
        ceiling = next((c for c in configs if c.kind == "ceiling"), None)
        tests, held = {}, []
        if ceiling is not None:
            for s in seed_list:
                tests[s], hl = experiment.holdout_ceiling(datasets[s], ceiling, grid, seed=s)
                held += hl
        summary["frontier"] = experiment.frontier_report(logs, datasets, held, tests)
        if two_models:
            summary["sweep"] = experiment.sweep_summary(logs, datasets)
            if held:
                summary["sweep"].update(experiment.sweep_summary(held, tests))
    summary["wall_seconds"] = round(time.perf_counter() - started, 1)
    _report(summary, sweep and two_models)
    if log is not None:
        experiment.write_logs(logs, log)
        typer.echo(f"log: {log}")
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(summary, indent=2))
        typer.echo(f"summary: {json_path}")
    if plots is not None:
        from simulations import plots as plotting

        for p in plotting.write_all(summary, logs, datasets, plots):
            typer.echo(f"plot: {p}")


def _featurizer(name: str, spec: FeatureSpec) -> Featurizer:
    from bandit_router.features.semantic import SemanticFeaturesUnavailable

    try:
        return featurizer_for(replace(spec, words=name))
    except (SemanticFeaturesUnavailable, ValueError) as exc:
        raise typer.BadParameter(str(exc)) from None


def _parse_grid(text: str) -> np.ndarray:
    try:
        grid = np.array([float(v) for v in text.split(",") if v.strip()])
    except ValueError:
        raise typer.BadParameter(f"--cost-weights expects numbers separated by commas, got "
                                 f"{text!r}") from None
    if len(grid) == 0 or not np.isfinite(grid).all() or (grid < 0).any():
        raise typer.BadParameter(f"--cost-weights needs at least one finite λ ≥ 0, got {text!r}")
    return grid


def _fmt(ms: dict | None, digits: int = 3) -> str:
    if not ms or ms.get("mean") is None:
        return "-"
    return f"{ms['mean']:.{digits}f}±{ms['sd']:.{digits}f}"


def _report(summary: dict, sweep: bool) -> None:
    typer.echo(f"{summary['data']}: {summary['steps']} requests, models "
               f"{', '.join(summary['models'])}, seeds {summary['seeds']}")
    if sweep:
        typer.echo(f"{'policy':<32} {'APGR':>14} {'CPT(50%)':>14} {'CPT(80%)':>14}")
        for name, row in summary["sweep"].items():
            typer.echo(f"{name:<32} {_fmt(row['apgr']):>14} {_fmt(row['cpt50']):>14} "
                       f"{_fmt(row['cpt80']):>14}")
    elif "frontier" in summary:
        report.frontier_tables(summary["frontier"], typer.echo)
    else:
        typer.echo(f"{'policy':<32} {'λ':>8} {'reward':>14} {'cost $':>16} {'regret':>16} "
                   f"{'recovery':>14} {'alarms':>9}  share")
        for row in summary["results"]:
            share = " ".join(f"{m.rsplit('/', 1)[-1]}={v:.2f}" for m, v in row["share"].items())
            typer.echo(f"{row['policy']:<32} {row['cost_weight']:>8.3g} "
                       f"{_fmt(row['mean_reward']):>14} {_fmt(row['total_cost_usd'], 2):>16} "
                       f"{_fmt(row['regret'], 1):>16} {_fmt(row.get('recovery_steps'), 0):>14}"
                       f" {_fmt(row['drift_alarms'], 1):>9}  {share}")
    typer.echo(f"wall time {summary['wall_seconds']} s")


def command() -> click.Command:
    """:func:`simulate` as a click command of its own."""
    app = typer.Typer(add_completion=False)
    app.command()(simulate)
    return typer.main.get_command(app)
