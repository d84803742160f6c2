"""The candidate policy being evaluated and its action probabilities ``π_e(a | x)``.

A candidate is either context-free (``uniform``, or ``fixed:MODEL``) or one of the
service's linear policies with its knobs. A linear candidate scores each logged decision
with the posterior that was live when that decision was made (looked up by version), so
its probabilities never use feedback that arrived later: the estimate answers "what would
this configuration have earned had it been running instead", not "what would it earn with
hindsight".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from bandit_router.ope.data import LogError, LoggedBandit
from bandit_router.policy import (
    LinearPolicy,
    Observations,
    PolicySpec,
    Posterior,
    Prior,
    SufficientStats,
    learn,
)
from bandit_router.policy.posterior import ArmView

KINDS = ("thompson", "linucb", "uniform", "fixed")

PosteriorSource = Callable[[int], Posterior]


@dataclass(frozen=True)
class Candidate:
    """A policy configuration to evaluate on logged data.

    ``exploration`` rescales the posterior spread relative to the logged posterior's own
    ``Prior.exploration``; ``cost_weight`` None means the λ each decision was logged with.
    """

    kind: str = "thompson"
    model: str | None = None  # for kind "fixed"
    alpha: float = 1.0
    exploration: float | None = None
    propensity_floor: float = 0.01
    floor_mass: float = 0.0  # the floor's rule, as PolicySpec (0: propensity_floor per model)
    floor_prune: float = 0.0
    floor_bounded: bool = False  # as PolicySpec: the dominance test capped at [0, 1]
    truncate: bool = False  # as PolicySpec: Thompson samples truncated to [0, 1]
    cost_weight: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown candidate {self.kind!r}; choose one of {', '.join(KINDS)}")
        if (self.kind == "fixed") != (self.model is not None):
            raise ValueError("a fixed candidate names exactly one model (fixed:MODEL)")
        if self.exploration is not None and self.exploration < 0:
            raise ValueError("exploration must be ≥ 0")
        if self.cost_weight is not None and self.cost_weight < 0:
            raise ValueError("cost_weight must be ≥ 0")
        self.policy()  # validates alpha and the floor

    @classmethod
    def parse(cls, spec: str, **knobs) -> "Candidate":
        """``thompson``, ``linucb``, ``uniform`` or ``fixed:MODEL`` plus keyword knobs."""
        kind, sep, model = spec.partition(":")
        if kind == "fixed" and not model:
            raise ValueError("write a fixed candidate as fixed:MODEL, e.g. fixed:gpt-4o-mini")
        return cls(kind=kind, model=model if sep else None, **knobs)

    @property
    def contextual(self) -> bool:
        return self.kind in ("thompson", "linucb")

    @property
    def spec(self) -> PolicySpec | None:
        """The linear candidate's policy; None for the context-free ones."""
        if not self.contextual:
            return None
        return PolicySpec(kind=self.kind, propensity_floor=self.propensity_floor,
                          floor_mass=self.floor_mass, floor_prune=self.floor_prune,
                          floor_bounded=self.floor_bounded, truncate=self.truncate,
                          alpha=self.alpha)

    def policy(self) -> LinearPolicy | None:
        return None if self.spec is None else self.spec.policy()

    def describe(self) -> str:
        if self.kind == "fixed":
            return f"always {self.model}"
        if self.kind == "uniform":
            return "uniform random"
        knobs = [f"floor={self.propensity_floor:g}"]
        if self.floor_mass > 0:
            knobs.append(f"floor_mass={self.floor_mass:g}, floor_prune={self.floor_prune:g}")
        knobs += [name for name in ("floor_bounded", "truncate") if getattr(self, name)]
        if self.kind == "linucb":
            knobs.insert(0, f"alpha={self.alpha:g}")
        if self.exploration is not None:
            knobs.append(f"exploration={self.exploration:g}")
        lam = "as logged" if self.cost_weight is None else f"{self.cost_weight:g}"
        knobs.append(f"cost_weight={lam}")
        return f"{self.kind} ({', '.join(knobs)})"


def action_probabilities(candidate: Candidate, data: LoggedBandit,
                         posteriors: PosteriorSource | None = None) -> np.ndarray:
    """``π_e(a | x_i)`` for every logged decision ``i`` and arm ``a``: an (n, K) matrix.

    Rows sum to one over the decision's eligible arms. A fixed model that is not eligible
    at a decision falls back to uniform among the eligible arms there. Linear candidates
    need ``data.X`` and ``posteriors(version)`` for every version in ``data.versions``
    (``versions`` None means one posterior, version 0, for every row).
    """
    elig = data.eligible
    if candidate.kind == "uniform":
        return elig / elig.sum(axis=1, keepdims=True)
    if candidate.kind == "fixed":
        if candidate.model not in data.arms:
            raise LogError(f"model {candidate.model!r} never appears in the logged data; "
                           f"logged models: {', '.join(data.arms)}")
        j = data.arms.index(candidate.model)
        out = elig / elig.sum(axis=1, keepdims=True)
        there = elig[:, j]
        out[there] = 0.0
        out[there, j] = 1.0
        return out
    if data.X is None or posteriors is None:
        raise LogError(f"a {candidate.kind} candidate needs the logged contexts and posteriors; "
                       "evaluate database data, or a simulation log together with --data")
    lam = _cost_weights(candidate, data)
    if data.arm_costs is None and np.any(lam != 0):
        raise LogError("a cost-aware candidate needs each arm's price at every decision")
    policy = candidate.policy()
    versions = np.zeros(data.n, dtype=np.int64) if data.versions is None else data.versions
    out = np.zeros((data.n, data.k))
    # Versions are visited in increasing order so a replayed source only ever moves forward.
    for v in np.unique(versions):
        post = posteriors(int(v))
        view = _rescaled(post.view(data.arms), candidate.exploration, post.prior)
        for i in np.flatnonzero(versions == v):
            cost = None if data.arm_costs is None else data.arm_costs[i]
            out[i] = policy.probabilities(view, data.X[i], cost=cost, cost_weight=lam[i],
                                          eligible=elig[i])
    return out


def _cost_weights(candidate: Candidate, data: LoggedBandit) -> np.ndarray:
    if candidate.cost_weight is not None:
        return np.full(data.n, candidate.cost_weight)
    if data.logged_cost_weight is None:
        return np.zeros(data.n)
    return data.logged_cost_weight


def _rescaled(view: ArmView, exploration: float | None, prior: Prior) -> ArmView:
    """The view with its spread scaled from the logged ``prior.exploration`` to ``exploration``."""
    if exploration is None or exploration == prior.exploration:
        return view
    if prior.exploration == 0:
        raise LogError("the logged posterior has exploration 0, so its spread cannot be rescaled")
    return ArmView(arms=view.arms, theta=view.theta, rinv=view.rinv,
                   sigma=view.sigma * (exploration / prior.exploration), n=view.n,
                   cost_w=view.cost_w)


class ReplayedPosteriors:
    """The posteriors a learning candidate would have had on a log without stored versions.

    Version ``v`` is the learning step of ``spec`` (half-life in decisions) applied to the
    logged (context, arm, reward, and the call's estimated and charged price when the log
    has both) of the first ``v · refit_every`` decisions, as the service's batched refit
    would have done; use :func:`replay_versions` for the version of
    each row. Asking for versions in increasing order costs one pass over the log.
    """

    def __init__(self, data: LoggedBandit, spec: PolicySpec, refit_every: int) -> None:
        if data.X is None:
            raise LogError("replaying posteriors needs the logged contexts")
        if refit_every < 1:
            raise ValueError("refit_every must be ≥ 1")
        self.data, self.spec, self.refit_every = data, spec, refit_every
        self._reset()

    def _reset(self) -> None:
        stats = SufficientStats.empty(list(self.data.arms), self.data.X.shape[1])
        self._posterior = Posterior.fit(stats, self.spec.prior, 0)

    def __call__(self, version: int) -> Posterior:
        if version < self._posterior.version:
            self._reset()
        if version > self._posterior.version:
            start, stop = self._posterior.version * self.refit_every, version * self.refit_every
            rows = np.arange(start, min(stop, self.data.n))
            d = self.data
            a = d.actions[rows]
            priced = d.arm_costs is not None and d.costs is not None
            batch = Observations(d.arms, a, d.X[rows], d.rewards[rows], rows + 1.0,
                                 estimate=d.arm_costs[rows, a] if priced else None,
                                 charged=d.costs[rows] if priced else None)
            self._posterior = learn(self.spec, self._posterior.stats, [batch], float(stop),
                                    fitted=self._posterior, version=version).posterior
        return self._posterior


def replay_versions(n: int, refit_every: int) -> np.ndarray:
    """The replayed posterior version live at each of ``n`` decisions."""
    return np.arange(n, dtype=np.int64) // refit_every

