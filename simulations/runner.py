"""Replay a request stream through a routing policy, exactly as the service would run it.

Learning policies decide on a fixed :class:`~bandit_router.policy.Posterior`; feedback is
buffered and every ``refit_every`` events the sufficient statistics are decayed to the
current step (half-life counted in requests), updated with the buffered rows and the
posterior is refitted — the service's batching. Only the chosen model's reward is fed
back, except for the supervised ``ceiling``, which sees every model's outcome.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from bandit_router.policy import (
    EpsilonGreedy,
    LinUCB,
    Posterior,
    Prior,
    SufficientStats,
    ThompsonSampling,
)
from bandit_router.policy.base import LinearPolicy
from bandit_router.policy.drift import DriftDetector
from bandit_router.policy.warm import offline_evidence
from simulations import baselines
from simulations.data import Dataset

LEARNERS = ("thompson", "linucb", "epsilon-greedy", "contextfree-thompson", "ceiling")
FIXED = ("random", "cheapest", "strongest", "oracle")
KINDS = LEARNERS + FIXED


@dataclass(frozen=True)
class PolicyConfig:
    """One router to replay, with its knobs. ``label`` names it in logs and plots."""

    kind: str = "thompson"
    label: str = ""
    refit_every: int = 100
    half_life: float | None = 5_000.0  # requests; None disables discounting
    propensity_floor: float = 0.01
    alpha: float = 1.0  # LinUCB
    epsilon: float = 0.05  # ε-greedy
    prior: Prior = field(default_factory=Prior)
    drift: DriftDetector | None = field(default_factory=DriftDetector)
    warm_weight: float = 1.0  # what one offline observation counts (data with a warm start)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown policy {self.kind!r}; choose one of {', '.join(KINDS)}")
        if self.refit_every < 1:
            raise ValueError("refit_every must be ≥ 1")
        if not self.label:
            object.__setattr__(self, "label", self.kind)

    @property
    def learns(self) -> bool:
        return self.kind in LEARNERS

    @property
    def uses_cost_weight(self) -> bool:
        return self.kind not in ("random", "cheapest", "strongest")

    def describe(self) -> dict:
        return asdict(self)  # nested dataclasses (prior, drift) become dicts too


@dataclass(frozen=True)
class Log:
    """Per-step record of one run: what was chosen, with which probability, and its outcome."""

    policy: str
    seed: int
    cost_weight: float
    models: tuple[str, ...]
    request_id: np.ndarray
    arm: np.ndarray
    propensity: np.ndarray
    reward: np.ndarray
    cost_usd: np.ndarray
    latency_ms: np.ndarray | None = None
    drift_alarms: tuple[tuple[int, str], ...] = ()  # (step, model) of each change detected

    @property
    def steps(self) -> int:
        return len(self.arm)


def _linear_policy(cfg: PolicyConfig, k: int) -> LinearPolicy:
    if cfg.kind in ("thompson", "contextfree-thompson"):
        return ThompsonSampling(propensity_floor=cfg.propensity_floor)
    if cfg.kind == "linucb":
        return LinUCB(propensity_floor=cfg.propensity_floor, alpha=cfg.alpha)
    if cfg.kind == "epsilon-greedy":
        return EpsilonGreedy(propensity_floor=min(0.5, cfg.epsilon / k))
    return LinUCB(propensity_floor=0.0, alpha=0.0)  # ceiling: greedy on the ridge fit


def _learn(data: Dataset, cfg: PolicyConfig, cost_weight: float, rng: np.random.Generator):
    n, k = data.n, data.k
    X = data.X[:, :1] if cfg.kind == "contextfree-thompson" else data.X
    d = X.shape[1]
    policy = _linear_policy(cfg, k)
    full_info = cfg.kind == "ceiling"
    stats = SufficientStats.empty(list(data.models), d)
    if data.warm is not None:
        wX, scores = data.warm
        stats = stats.absorb(offline_evidence(data.models, wX[:, :d], scores), cfg.warm_weight)
    posterior = Posterior.fit(stats, cfg.prior)
    view = posterior.view(data.models)
    arm = np.empty(n, dtype=np.intp)
    prop = np.empty(n)
    all_arms = np.arange(k)
    start = 0  # first step whose feedback is not yet in the statistics
    version = 0
    alarms: list[tuple[int, str]] = []
    for t in range(n):
        elig = None if data.available is None else data.available[t]
        ch = policy.choose(view, X[t], rng, cost=data.cost[t], cost_weight=cost_weight,
                           eligible=elig)
        arm[t], prop[t] = ch.index, ch.propensity
        if t + 1 - start >= cfg.refit_every or t == n - 1:
            rows = np.arange(start, t + 1)
            stats.decay_to(float(t + 1), cfg.half_life)
            if full_info:
                sel = np.repeat(rows, k)
                arms_fed = np.tile(all_arms, len(rows))
                if data.available is not None:
                    ok = data.available[sel, arms_fed]
                    sel, arms_fed = sel[ok], arms_fed[ok]
            else:
                sel, arms_fed = rows, arm[rows]
            fed = data.reward[sel, arms_fed]
            if cfg.drift is not None and not full_info:
                fired = cfg.drift.scan(stats, posterior, arms_fed, X[sel], fed)
                alarms.extend((t + 1, m) for m in fired)
            stats.update(arms_fed, X[sel], fed, times=sel.astype(np.float64) + 1.0,
                         half_life=cfg.half_life)
            version += 1
            posterior = Posterior.fit(stats, cfg.prior, version)
            view = posterior.view(data.models)
            start = t + 1
    return arm, prop, tuple(alarms)


def run(data: Dataset, cfg: PolicyConfig, seed: int, cost_weight: float = 0.0) -> Log:
    """Replay ``data`` in order through ``cfg``; deterministic given ``seed``."""
    rng = np.random.default_rng([seed, KINDS.index(cfg.kind)])
    alarms: tuple[tuple[int, str], ...] = ()
    if cfg.learns:
        arm, prop, alarms = _learn(data, cfg, cost_weight, rng)
    elif cfg.kind == "random":
        arm, prop = baselines.random_router(data, rng)
    elif cfg.kind == "cheapest":
        arm, prop = baselines.fixed_router(data, data.cheapest())
    elif cfg.kind == "strongest":
        arm, prop = baselines.fixed_router(data, data.strongest())
    else:
        arm, prop = baselines.oracle_router(data, cost_weight)
    rows = np.arange(data.n)
    lat = None if data.latency_ms is None else data.latency_ms[rows, arm]
    return Log(policy=cfg.label, seed=seed, cost_weight=float(cost_weight), models=data.models,
               request_id=data.ids.copy(), arm=arm, propensity=prop,
               reward=data.reward[rows, arm], cost_usd=data.cost[rows, arm], latency_ms=lat,
               drift_alarms=alarms)
