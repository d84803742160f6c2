"""Check the estimators' intervals where the truth is known.

Run ``python -m bandit_router.ope.validate``.

A synthetic world with linear-logistic expected rewards and context-dependent prices is
logged by the service's own :class:`~bandit_router.policy.ThompsonSampling`, learning
online with batched refits (the service's learning step, :func:`~bandit_router.policy.learn`)
and a propensity floor. The
candidates are fixed configurations (their posterior is fitted once on a separate pilot
sample), so their true value ``E_x Σ_a π_e(a|x) μ(x, a)`` is computed from the known
``μ`` and the candidates' exact probabilities on a large fresh sample of contexts. Each
run draws new logged data; the script counts how often each estimator's interval covers
the truth.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field

import numpy as np
from scipy.special import expit

from bandit_router.ope.data import LoggedBandit
from bandit_router.ope.guard import GuardResult, coverage_guard, shrink_factor, shrunk
from bandit_router.ope.meta import OUTCOMES, EvaluationConfig, evaluate_policy
from bandit_router.ope.target import Candidate, action_probabilities
from bandit_router.routing.rules import GLOBAL, RuleBook, evaluate, rule_set_from_mapping
from bandit_router.policy import (
    Observations,
    PolicySpec,
    Posterior,
    Prior,
    SufficientStats,
    learn,
)

ARMS = ("cheap", "middle", "strong")
# The validation world's own logging prior, fixed here rather than taken from the service's
# defaults so that this check measures the estimators, not a change of defaults (docs/ope.md
# reports coverage on logs of the current defaults too).
LOGGING_PRIOR = Prior(precision=1.0, optimism=0.5, exploration=1.0, evidence="none",
                      noise_dof=0.0)


@dataclass(frozen=True)
class World:
    """``μ(x, a) = sigmoid(θ_a · x)``; price ``c_a · (1 + x₁²/2)``; ``x = (1, N(0, I))``."""

    theta: np.ndarray = field(default_factory=lambda: np.array([[-0.4, 1.2, 0.0, 0.3],
                                                                [0.2, -0.6, 0.8, 0.0],
                                                                [0.7, 0.2, -0.5, 0.6]]))
    price: np.ndarray = field(default_factory=lambda: np.array([0.0002, 0.001, 0.004]))

    @property
    def dim(self) -> int:
        return self.theta.shape[1]

    def contexts(self, rng: np.random.Generator, n: int) -> np.ndarray:
        X = rng.standard_normal((n, self.dim))
        X[:, 0] = 1.0
        return X

    def expected_reward(self, X: np.ndarray) -> np.ndarray:
        return expit(X @ self.theta.T)

    def prices(self, X: np.ndarray) -> np.ndarray:
        return self.price[None, :] * (1.0 + 0.5 * X[:, 1:2] ** 2)


# Operator rules of the validation world (``coverage(with_rules=True)``): requests of the
# "free" plan (x₂ > 0.5, about 30%) may use only the cheap model, and "eu" requests
# (x₃ < -1, about 16%) never the middle one; evaluated by the service's own rules.evaluate.
RULES = RuleBook({GLOBAL: rule_set_from_mapping({"rules": [
    {"name": "free-plan-cheap", "when": {"plan": "free"}, "allow_models": ["cheap"]},
    {"name": "eu-no-middle", "when": {"region": "eu"}, "deny_models": ["middle"]}]})})


def rule_eligibility(X: np.ndarray, book: RuleBook = RULES) -> np.ndarray:
    """(n, arms) which arms the rules leave for each context's metadata."""
    free, eu = X[:, 2] > 0.5, X[:, 3] < -1
    out = np.empty((len(X), len(ARMS)), dtype=bool)
    for f in (False, True):  # four metadata combinations: evaluate each once
        for e in (False, True):
            meta = {"plan": "free" if f else "paid", "region": "eu" if e else "us"}
            out[(free == f) & (eu == e)] = evaluate(book, None, meta, ARMS,
                                                    [()] * len(ARMS)).allowed
    return out


def log_thompson(world: World, rng: np.random.Generator, n: int, floor: float = 0.05,
                 refit_every: int = 100, prior: Prior = LOGGING_PRIOR,
                 with_rules: bool = False, log_eligibility: bool = True) -> LoggedBandit:
    """``n`` decisions of a learning Thompson sampler (λ = 0) with Bernoulli rewards; with
    ``with_rules`` it chooses among the arms :data:`RULES` leave, and logs that eligibility
    (unless ``log_eligibility`` is False: a broken log that says every arm was a candidate)."""
    X = world.contexts(rng, n)
    eligible = rule_eligibility(X) if with_rules else np.ones((n, len(ARMS)), dtype=bool)
    mu, price = world.expected_reward(X), world.prices(X)
    # the per-model floor, pinned like the prior: the check must not move with the defaults
    spec = PolicySpec(kind="thompson", propensity_floor=floor, floor_mass=0.0, floor_prune=0.0,
                      prior=prior, drift=None)
    policy = spec.policy()
    posterior = Posterior.from_prior(list(ARMS), world.dim, prior)
    view = posterior.view(ARMS)
    actions, props = np.empty(n, dtype=np.intp), np.empty(n)
    rewards = np.empty(n)
    for t in range(n):
        choice = policy.choose(view, X[t], rng, eligible=eligible[t])
        actions[t], props[t] = choice.index, choice.propensity
        rewards[t] = float(rng.random() < mu[t, choice.index])
        if (t + 1) % refit_every == 0:
            rows = np.arange(t + 1 - refit_every, t + 1)
            batch = Observations(ARMS, actions[rows], X[rows], rewards[rows])
            posterior = learn(spec, posterior.stats, [batch], float(t + 1)).posterior
            view = posterior.view(ARMS)
    rows = np.arange(n)
    logged = eligible if log_eligibility else np.ones_like(eligible)
    return LoggedBandit(arms=ARMS, actions=actions, rewards=rewards, costs=price[rows, actions],
                        propensities=props, eligible=logged, X=X,
                        arm_costs=price, logged_cost_weight=np.zeros(n))


def pilot_posterior(world: World, rng: np.random.Generator, n: int = 600) -> Posterior:
    """A posterior fitted on uniformly logged pilot data: the candidates' fixed knowledge."""
    X = world.contexts(rng, n)
    a = rng.integers(0, len(ARMS), n)
    r = (rng.random(n) < world.expected_reward(X)[np.arange(n), a]).astype(float)
    spec = PolicySpec(prior=LOGGING_PRIOR, drift=None)
    start = SufficientStats.empty(list(ARMS), world.dim)
    return learn(spec, start, [Observations(ARMS, a, X, r)], now=0.0).posterior


def candidates(cost_weight: float = 60.0) -> dict[str, Candidate]:
    return {
        "linucb λ=60": Candidate("linucb", alpha=0.3, propensity_floor=0.0,
                                 cost_weight=cost_weight),
        "thompson λ=60 exploration 0.5": Candidate("thompson", exploration=0.5,
                                                   propensity_floor=0.0, cost_weight=cost_weight),
        "always strong": Candidate("fixed", model="strong", cost_weight=cost_weight),
    }


def true_values(world: World, candidate: Candidate, posterior: Posterior,
                rng: np.random.Generator, m: int = 100_000,
                with_rules: bool = False) -> np.ndarray:
    """(reward, cost, utility) of ``candidate`` in expectation over contexts, by Monte Carlo
    (under the same rules as the logs when ``with_rules``)."""
    X = world.contexts(rng, m)
    price = world.prices(X)
    eligible = rule_eligibility(X) if with_rules else np.ones((m, len(ARMS)), dtype=bool)
    first = np.argmax(eligible, axis=1)
    grid = LoggedBandit(arms=ARMS, actions=first, rewards=np.zeros(m),
                        costs=np.zeros(m), propensities=np.ones(m),
                        eligible=eligible, X=X, arm_costs=price)
    pi = action_probabilities(candidate, grid, lambda v: posterior)
    reward = float(np.mean(np.sum(pi * world.expected_reward(X), axis=1)))
    cost = float(np.mean(np.sum(pi * price, axis=1)))
    return np.array([reward, cost, reward - (candidate.cost_weight or 0.0) * cost])


def coverage(runs: int, n: int, n_boot: int, seed: int = 0, truth_contexts: int = 100_000,
             names: tuple[str, ...] | None = None,
             logging_prior: Prior = LOGGING_PRIOR, with_rules: bool = False,
             forget_eligibility: bool = False, shrink: float | None = None) -> dict:
    """Per candidate, estimator and outcome: share of ``runs`` whose interval covers the truth.

    ``forget_eligibility`` (with ``with_rules``) logs every arm as a candidate although the
    rules removed some: what the check must catch. ``shrink`` also counts, on the same runs,
    how often the intervals shrunk by that factor about their estimate cover (``"shrunk"``
    per cell): the guard's negative control (:func:`bandit_router.ope.guard.shrink_factor`)."""
    world = World()
    root = np.random.SeedSequence(seed)
    pilot_seq, truth_seq, run_seq = root.spawn(3)
    posterior = pilot_posterior(world, np.random.default_rng(pilot_seq))
    chosen = {k: c for k, c in candidates().items() if names is None or k in names}
    truth = {k: true_values(world, c, posterior, np.random.default_rng(truth_seq), truth_contexts,
                            with_rules=with_rules)
             for k, c in chosen.items()}
    config = EvaluationConfig(n_boot=n_boot)
    hits: dict = {}
    for run_rng in map(np.random.default_rng, run_seq.spawn(runs)):
        data = log_thompson(world, run_rng, n, prior=logging_prior, with_rules=with_rules,
                            log_eligibility=not forget_eligibility)
        for name, cand in chosen.items():
            pi = action_probabilities(cand, data, lambda v: posterior)
            ev = evaluate_policy(data, pi, run_rng, cost_weight=cand.cost_weight, config=config)
            for est, per in ev.estimates.items():
                for j, o in enumerate(OUTCOMES):
                    e = per[o]
                    cell = hits.setdefault((name, est, o), {"covered": 0, "width": 0.0,
                                                            "error": 0.0, "untrusted": 0,
                                                            "shrunk": 0})
                    cell["covered"] += int(e.low <= truth[name][j] <= e.high)
                    if shrink is not None:
                        low, high = shrunk(e.value, e.low, e.high, shrink)
                        cell["shrunk"] += int(low <= truth[name][j] <= high)
                    cell["width"] += (e.high - e.low) / runs
                    cell["error"] += (e.value - truth[name][j]) / runs
                    cell["untrusted"] += int(not ev.trustworthy)
    return {"runs": runs, "n": n, "n_boot": n_boot, "seed": seed,
            "truth": {k: dict(zip(OUTCOMES, map(float, v))) for k, v in truth.items()},
            "cells": {f"{c} | {e} | {o}": {"coverage": v["covered"] / runs,
                                           "covered_runs": v["covered"],
                                           "mean_width": v["width"], "mean_error": v["error"],
                                           "untrusted_runs": v["untrusted"],
                                           **({"shrunk_covered_runs": v["shrunk"]}
                                              if shrink is not None else {})}
                      for (c, e, o), v in hits.items()}}


def guard(out: dict, negative_control: bool = False) -> GuardResult:
    """:func:`~bandit_router.ope.guard.coverage_guard` on a :func:`coverage` table (on its
    shrunk intervals with ``negative_control``)."""
    key = "shrunk_covered_runs" if negative_control else "covered_runs"
    return coverage_guard({k: v[key] for k, v in out["cells"].items()}, out["runs"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--n", type=int, default=3000, help="logged decisions per run")
    ap.add_argument("--boot", type=int, default=1000, help="bootstrap resamples")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rules", action="store_true",
                    help="log and evaluate under operator rules (free plan: cheap only; eu: no "
                         "middle model)")
    args = ap.parse_args(argv)
    start = time.perf_counter()
    out = coverage(args.runs, args.n, args.boot, args.seed, with_rules=args.rules,
                   shrink=shrink_factor())
    print(f"{args.runs} runs × {args.n} decisions logged by Thompson sampling (floor 0.05), "
          f"{args.boot} bootstrap resamples, 95% percentile intervals, seed {args.seed}")
    print(f"{'candidate | estimator | outcome':58s} {'coverage':>8s} {'width':>10s} "
          f"{'bias':>10s} {'untrusted':>9s}")
    for key, v in out["cells"].items():
        print(f"{key:58s} {v['coverage']:8.0%} {v['mean_width']:10.4g} {v['mean_error']:+10.2g} "
              f"{v['untrusted_runs']:9d}")
    result = guard(out)
    print(result.summary())
    control = guard(out, negative_control=True)
    shrunk_mean = control.mean_coverage
    print(f"negative control (the same intervals shrunk ×{shrink_factor():.3f}, mean coverage "
          f"{shrunk_mean:.1%}): {'rejected' if not control.passed else 'NOT rejected'}")
    print(f"({time.perf_counter() - start:.0f} s)")
    return 0 if result.passed and not control.passed else 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
