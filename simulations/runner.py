"""Replay a request stream through a routing policy, exactly as the service would run it.

Learning policies decide on a fixed :class:`~bandit_router.policy.Posterior`; feedback is
buffered and every ``refit_every`` events it goes through the service's own learning step
(:func:`bandit_router.policy.learn`: decay to the current step, half-life counted in
requests; change scan; update; fit) — the service's batching, by construction. Only the
chosen model's reward and, where the data has real per-call prices (``Dataset.charged``),
the chosen call's price are fed back, except for the supervised ``ceiling``, which sees
every model's outcome and price. The ``litellm-adaptive`` peer learns in its own way, after
every request (simulations/litellm_adaptive.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np

from bandit_router.policy import Learned, Observations, PolicySpec, Posterior, learn, warm_start
from simulations import baselines, litellm_adaptive
from simulations.data import Dataset

LEARNERS = ("thompson", "linucb", "epsilon-greedy", "contextfree-thompson", "ceiling")
FIXED = ("random", "cheapest", "strongest", "oracle")
PEERS = ("litellm-adaptive",)  # other projects' routers, re-implemented for comparison
KINDS = LEARNERS + FIXED + PEERS


@dataclass(frozen=True)
class PolicyConfig:
    """One router to replay. ``label`` names it in logs and plots; ``spec`` holds the
    learner's knobs (half-life in requests) and its ``kind`` follows ``kind``:
    ``contextfree-thompson`` is Thompson sampling on the bias feature alone, and the
    supervised ``ceiling`` is greedy (LinUCB with α = 0, no floor, no change detection) on
    every model's outcome. ``litellm-adaptive`` is a peer (simulations/litellm_adaptive.py):
    it learns on its own cells and ignores ``spec`` and ``refit_every``."""

    kind: str = "thompson"
    label: str = ""
    refit_every: int = 100
    spec: PolicySpec = field(default_factory=lambda: PolicySpec(half_life=5_000.0))
    warm_weight: float = 1.0  # what one offline observation counts (data with a warm start)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown policy {self.kind!r}; choose one of {', '.join(KINDS)}")
        if self.refit_every < 1:
            raise ValueError("refit_every must be ≥ 1")
        if not self.label:
            object.__setattr__(self, "label", self.kind)
        if self.kind == "ceiling":
            spec = replace(self.spec, kind="linucb", alpha=0.0, propensity_floor=0.0,
                           floor_mass=0.0, floor_prune=0.0, drift=None)
        elif self.kind in LEARNERS:
            spec = replace(self.spec, kind=self.kind.removeprefix("contextfree-"))
        else:
            spec = self.spec
        object.__setattr__(self, "spec", spec)

    @property
    def learns(self) -> bool:
        return self.kind in LEARNERS

    @property
    def full_information(self) -> bool:
        """The learner sees every model's outcome, not only the chosen one's."""
        return self.kind == "ceiling"

    @property
    def uses_cost_weight(self) -> bool:
        return self.kind not in ("random", "cheapest", "strongest")

    def describe(self) -> dict:
        return asdict(self)  # nested dataclasses (spec, prior, drift) become dicts too


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


def features(data: Dataset, cfg: PolicyConfig) -> np.ndarray:
    """The contexts ``cfg`` learns and decides on."""
    return data.X[:, :1] if cfg.kind == "contextfree-thompson" else data.X


def observations(data: Dataset, cfg: PolicyConfig, rows: np.ndarray,
                 arm: np.ndarray) -> Observations:
    """The feedback of steps ``rows`` (where ``arm`` was chosen), observed at step + 1, with
    each call's decision-time and charged price when the data charges real prices."""
    X, times = features(data, cfg)[rows], rows + 1.0
    priced = data.charged is not None
    if cfg.full_information:
        return Observations.full_information(
            data.models, X, data.reward[rows], times,
            None if data.available is None else data.available[rows],
            estimate=data.cost[rows] if priced else None,
            charged=data.charged[rows] if priced else None)
    a = arm[rows]
    return Observations(data.models, a, X, data.reward[rows, a], times,
                        estimate=data.cost[rows, a] if priced else None,
                        charged=data.charged[rows, a] if priced else None)


def refit(data: Dataset, cfg: PolicyConfig, posterior: Posterior, rows: np.ndarray,
          arm: np.ndarray) -> Learned:
    """The simulator's refit after steps ``rows`` (consecutive, oldest first) were decided with
    ``posterior``: the service's learning step on their feedback, at step ``rows[-1] + 1``."""
    return learn(cfg.spec, posterior.stats, [observations(data, cfg, rows, arm)],
                 float(rows[-1] + 1), fitted=posterior, version=posterior.version + 1)


def initial_posterior(data, cfg, dim: int):
    """The run's policy and its posterior before step 0: the prior, or the warm start from
    the offline evaluations (full information) when the data carry them."""
    policy = cfg.spec.policy(data.k)
    posterior = Posterior.from_prior(list(data.models), dim, cfg.spec.prior)
    if data.warm is not None:
        wX, scores, estimate, charged = data.warm
        posterior = warm_start(cfg.spec, posterior.stats, data.models, wX[:, :dim],
                               scores, 0.0, cfg.warm_weight, estimate=estimate,
                               charged=charged).posterior
    return policy, posterior


def _learn(data: Dataset, cfg: PolicyConfig, cost_weight: float, rng: np.random.Generator):
    n = data.n
    X = features(data, cfg)
    policy, posterior = initial_posterior(data, cfg, X.shape[1])
    view = posterior.view(data.models)
    arm = np.empty(n, dtype=np.intp)
    prop = np.empty(n)
    start = 0  # first step whose feedback is not yet in the statistics
    alarms: list[tuple[int, str]] = []
    for t in range(n):
        elig = None if data.available is None else data.available[t]
        ch = policy.choose(view, X[t], rng, cost=data.cost[t], cost_weight=cost_weight,
                           eligible=elig)
        arm[t], prop[t] = ch.index, ch.propensity
        if t + 1 - start >= cfg.refit_every or t == n - 1:
            learned = refit(data, cfg, posterior, np.arange(start, t + 1), arm)
            alarms.extend((t + 1, m) for m in learned.drift_alarms)
            posterior = learned.posterior
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
    elif cfg.kind == "litellm-adaptive":
        arm, prop = litellm_adaptive.replay(data, cost_weight, rng, warm_weight=cfg.warm_weight)
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
