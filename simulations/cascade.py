"""Replay cascades on data with every model's outcome: quality, cost and calls per request
beside the single models and plain routing, so a researcher can see when a cascade pays.

A cascade tries its models cheap → dear; after each answer a check of configurable
``accuracy`` decides (it says "pass" for a correct answer and "fail" for a wrong one with
probability ``accuracy``, and the opposite otherwise; an answer is correct when its reward is
≥ ``correct_at``). The last model's answer is accepted whatever its check says. Each call is
paid. Two starts are replayed: always the cheapest (``first``), and a learned start (``bandit``): the service's Thompson sampling chooses where to start among the
chain, learning — as the service does — reward ``failure_reward`` (0) for each answer that
failed its check and the accepted answer's true reward (the app's feedback).

    python -m simulations.cascade --data ../shared/data/routellm-evals/mmlu --accuracy 0.9
    python -m simulations.cascade --scenario families --accuracy 0.8,0.9,1.0
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, replace

import numpy as np

from bandit_router.features import DEFAULT_SPEC, featurizer_for
from bandit_router.policy import Observations, PolicySpec, Posterior, learn
from simulations import runner
from simulations.data import Dataset, Scenario, load_responses, synthetic, DEFAULT_STEPS


@dataclass(frozen=True)
class Result:
    name: str
    quality: float  # mean reward of the accepted answers
    cost: float  # mean USD per request, every call paid
    calls: float  # mean calls per request

    def row(self) -> str:
        return f"| {self.name} | {self.quality:.3f} | {self.cost * 1e3:.4f} | {self.calls:.2f} |"


def chain_by_price(data: Dataset) -> list[int]:
    """The models cheap → dear by mean price."""
    return [int(j) for j in np.argsort(data.cost.mean(axis=0), kind="stable")]


def _verdicts(data: Dataset, accuracy: float, correct_at: float,
              rng: np.random.Generator) -> np.ndarray:
    """(n, K): what the check says of every model's answer to every request (True = pass)."""
    correct = data.reward >= correct_at
    honest = rng.random(correct.shape) < accuracy
    return np.where(honest, correct, ~correct)


def run_cascade(data: Dataset, chain: list[int], verdict: np.ndarray,
                start: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
    """Per request: accepted reward, total cost, calls; and each request's (model, passed)
    attempts. ``start`` gives each request's first position in ``chain`` (default 0)."""
    n = data.n
    reward, cost, calls = np.empty(n), np.zeros(n), np.zeros(n, dtype=int)
    tried: list = []
    for t in range(n):
        steps = []
        for pos in range(0 if start is None else int(start[t]), len(chain)):
            j = chain[pos]
            cost[t] += data.cost[t, j]
            calls[t] += 1
            ok = bool(verdict[t, j]) or pos == len(chain) - 1
            steps.append((j, bool(verdict[t, j])))
            if ok:
                reward[t] = data.reward[t, j]
                break
        tried.append(steps)
    return reward, cost, calls, tried


def learned_start(data: Dataset, chain: list[int], verdict: np.ndarray, seed: int,
                  cost_weight: float, refit_every: int = 100, failure_reward: float = 0.0,
                  spec: PolicySpec | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The cascade whose start the service's Thompson sampling learns (see module doc)."""
    spec = spec or PolicySpec(half_life=5_000.0)
    rng = np.random.default_rng([seed, 7])
    arms = tuple(data.models[j] for j in chain)
    policy = spec.policy(len(arms))
    posterior = Posterior.from_prior(list(arms), data.X.shape[1], spec.prior)
    view = posterior.view(arms)
    reward, cost, calls = np.empty(data.n), np.zeros(data.n), np.zeros(data.n, dtype=int)
    pending: list[tuple[int, int, float]] = []  # (request, chain position, learned reward)
    for t in range(data.n):
        ch = policy.choose(view, data.X[t], rng, cost=data.cost[t, chain], cost_weight=cost_weight)
        r, c, k, tried = run_cascade(data.take(np.array([t])), chain, verdict[t:t + 1],
                                     np.array([ch.index]))
        reward[t], cost[t], calls[t] = r[0], c[0], k[0]
        for i, (j, passed) in enumerate(tried[0]):
            last = i == len(tried[0]) - 1
            pending.append((t, chain.index(j), data.reward[t, j] if last else failure_reward))
        if (t + 1) % refit_every == 0 or t == data.n - 1:
            rows = np.array([p[0] for p in pending])
            obs = Observations(arms, np.array([p[1] for p in pending], dtype=np.intp),
                               data.X[rows], np.array([p[2] for p in pending]), rows + 1.0)
            posterior = learn(spec, posterior.stats, [obs], float(t + 1), fitted=posterior,
                              version=posterior.version + 1).posterior
            view = posterior.view(arms)
            pending = []
    return reward, cost, calls


def baselines(data: Dataset, seed: int = 0, cost_weights: tuple[float, ...] = (0.0,),
              chain: list[int] | None = None) -> list[Result]:
    """The single models and plain Thompson routing at each λ (one call per request)."""
    out = [Result(f"only {data.models[j]}", float(data.reward[:, j].mean()),
                  float(data.cost[:, j].mean()), 1.0) for j in chain or chain_by_price(data)]
    for lam in cost_weights:
        log = runner.run(data, runner.PolicyConfig("thompson"), seed, cost_weight=lam)
        out.append(Result(f"routing (thompson, λ={lam:g})", float(log.reward.mean()),
                          float(log.cost_usd.mean()), 1.0))
    return out


def compare(data: Dataset, accuracy: float, seed: int = 0, correct_at: float = 0.5,
            cost_weights: tuple[float, ...] = (0.0,), chain: list[int] | None = None
            ) -> list[Result]:
    """The cascades (from the cheapest, and with the learned start at each λ) on one
    order of the requests (seeded)."""
    chain = chain or chain_by_price(data)
    verdict = _verdicts(data, accuracy, correct_at, np.random.default_rng([seed, 11]))
    out = []
    names = " → ".join(data.models[j].rsplit("/", 1)[-1] for j in chain)
    r, c, k, _ = run_cascade(data, chain, verdict)
    out.append(Result(f"cascade ({names}), check accuracy {accuracy:g}", float(r.mean()),
                      float(c.mean()), float(k.mean())))
    for lam in cost_weights:
        r, c, k = learned_start(data, chain, verdict, seed, lam)
        out.append(Result(f"cascade, bandit start (λ={lam:g}), check accuracy {accuracy:g}",
                          float(r.mean()), float(c.mean()), float(k.mean())))
    return out


def _dataset(args, seed: int) -> Dataset:
    featurizer = featurizer_for(DEFAULT_SPEC)
    if args.data:
        return load_responses(args.data, featurizer, {}, [], 256, None).shuffled(
            np.random.default_rng(seed))
    sc = Scenario(steps=args.steps or DEFAULT_STEPS.get(args.scenario, Scenario.steps))
    return synthetic(args.scenario, seed, sc, featurizer)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", help="RouteLLM-style CSV file or directory")
    src.add_argument("--scenario", help="synthetic scenario of simulations/data.py, e.g. families")
    ap.add_argument("--steps", type=int, help="requests (synthetic scenarios)")
    ap.add_argument("--accuracy", default="0.9", help="check accuracies, comma-separated")
    ap.add_argument("--correct-at", type=float, default=0.5,
                    help="an answer is correct when its reward is at least this")
    ap.add_argument("--cost-weights", default="0", help="λ of routing and of the learned "
                    "start, comma-separated (USD⁻¹)")
    ap.add_argument("--chain", help="models of the cascade cheap → dear, comma-separated "
                    "(default: every model by mean price)")
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)
    lams = tuple(float(v) for v in args.cost_weights.split(","))
    results: dict[str, list[Result]] = {}
    for seed in range(args.seeds):
        data = _dataset(args, seed)
        chain = None
        if args.chain:
            names = [m.strip() for m in args.chain.split(",")]
            unknown = [m for m in names if m not in data.models]
            if unknown:
                ap.error(f"--chain names unknown model(s) {', '.join(unknown)}; the data has "
                         f"{', '.join(data.models)}")
            chain = [data.models.index(m) for m in names]
        for res in baselines(data, seed, lams, chain):
            results.setdefault(res.name, []).append(res)
        for acc in (float(a) for a in args.accuracy.split(",")):
            for res in compare(data, acc, seed, args.correct_at, lams, chain):
                results.setdefault(res.name, []).append(res)
    mean = [replace(rs[0], quality=float(np.mean([r.quality for r in rs])),
                    cost=float(np.mean([r.cost for r in rs])),
                    calls=float(np.mean([r.calls for r in rs]))) for rs in results.values()]
    print(f"{args.data or 'scenario:' + args.scenario}: {data.n} requests, seeds "
          f"0..{args.seeds - 1}, models {', '.join(data.models)}")
    print("| policy | quality | cost (m$/request) | calls/request |\n|---|---|---|---|")
    for r in mean:
        print(r.row())
    if args.json:
        with open(args.json, "w") as fh:
            json.dump([r.__dict__ for r in mean], fh, indent=2)


if __name__ == "__main__":  # pragma: no cover
    main()
