"""Where a learner's regret goes on a many-model world with known task families (issue #17).

``python -m simulations.regret_split --scenario bench11 --seeds 3 --policies thompson,ceiling``

Replays each policy exactly as ``bandit-router simulate`` does (the simulator's own learning
step and random stream: the chosen models are those of ``simulations.runner.run``, which the
script checks) and records, per decision, whether the exploration floor made it and every
model's predicted reward. Each run's regret is measured in expected utility
(``expected − λ · charged``) against the **family's best fixed model**: on each task family
the one model with the highest mean utility on that seed's stream at that λ (what a router
that knew each request's family and nothing else would send it to). Every decision's regret
is put in one bin:

* ``floor``: made by the exploration floor (``Choice.explored``);
* ``dominated``: the model is Pareto-dominated on the request's family (another model has
  at least its mean quality there at no more mean cost, one of them strictly): a pull no λ
  justifies, split into ``dominated_dear`` (dearer than the family's best at this λ) and
  ``dominated_cheap``;
* ``frontier_dear`` / ``frontier_cheap``: a model on the family's cost–quality frontier, not
  the best at this λ, dearer / cheaper than the best (a wrong choice among the good models);
* ``best``: the family's best model (its regret is ≈ 0 on average; negative where the
  request is easier than the family's average for it).

By window of the stream (``--windows``), and against the full-information ``ceiling`` (which,
reading the request's difficulty within a family, ends below the family oracle's regret).
Convergence: per window, the mean absolute error of each model's predicted reward on its
family's requests against the model's true mean quality on that family, averaged over the
(model, family) cells, and the same for the family's best model only.

Figures are per request (regret summed over a window / the window's length), mean over seeds
and λ unless printed per λ. ``--json PATH`` writes every number.
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from simulations.cli import build_policies
from simulations.data import Dataset
from simulations.runner import PolicyConfig, features, initial_posterior, refit, run

BINS = ("floor", "dominated_dear", "dominated_cheap", "frontier_dear", "frontier_cheap", "best")


@dataclass(frozen=True)
class World:
    data: Dataset
    family: np.ndarray  # (n,)
    families: tuple[str, ...]


@lru_cache(maxsize=8)
def world(scenario: str, seed: int, steps: int) -> World:
    if scenario == "bench11":
        from simulations import bench11 as mod
    elif scenario == "families":
        from simulations import families as mod
    else:
        raise SystemExit(f"regret_split needs a world with task families (bench11, families), "
                         f"not {scenario!r}")
    w = mod.generate(seed, steps)
    data = Dataset(name=scenario, models=w.models, X=w.X, reward=w.reward, expected=w.expected,
                   cost=w.quoted, charged=w.charged, prompts=tuple(w.texts))
    return World(data, np.asarray(w.family), tuple(mod.FAMILIES))


def replay(data: Dataset, cfg: PolicyConfig, seed: int, cost_weight: float):
    """``simulations.runner._learn`` with every decision's floor flag and predicted means."""
    from simulations.runner import KINDS

    rng = np.random.default_rng([seed, KINDS.index(cfg.kind)])
    n = data.n
    X = features(data, cfg)
    policy, posterior = initial_posterior(data, cfg, X.shape[1])
    view = posterior.view(data.models)
    arm = np.empty(n, dtype=np.intp)
    explored = np.zeros(n, dtype=bool)
    mean = np.empty((n, data.k))
    start = 0
    for t in range(n):
        ch = policy.choose(view, X[t], rng, cost=data.cost[t], cost_weight=cost_weight)
        arm[t], explored[t], mean[t] = ch.index, ch.explored, ch.mean
        if t + 1 - start >= cfg.refit_every or t == n - 1:
            posterior = refit(data, cfg, posterior, np.arange(start, t + 1), arm).posterior
            view = posterior.view(data.models)
            start = t + 1
    return arm, explored, mean


def _task(args):
    scenario, steps, seed, lam, label, policies = args
    cfg = next(c for c in build_policies(policies, 100, _spec()) if c.label == label)
    w = world(scenario, seed, steps)
    arm, explored, mean = replay(w.data, cfg, seed, lam)
    check = run(w.data, cfg, seed, lam).arm
    if not np.array_equal(check, arm):
        raise RuntimeError(f"{label}: the instrumented replay left the simulator's path")
    return split(w, lam, arm, explored, mean) | {"seed": seed, "cost_weight": lam,
                                                  "policy": label}


def _spec():
    from bandit_router.policy import PolicySpec

    return PolicySpec(half_life=5_000.0)  # the simulator's default (half-life in requests)


def split(w: World, lam: float, arm: np.ndarray, explored: np.ndarray, mean: np.ndarray,
          windows=(0, 300, 600, 1000, 1500, 2200, 3150)) -> dict:
    d = w.data
    n, k = d.expected.shape
    rows = np.arange(n)
    util = d.expected - lam * d.charged
    fams = np.unique(w.family)
    q = np.array([[d.expected[w.family == f, m].mean() for m in range(k)] for f in fams])
    c = np.array([[d.charged[w.family == f, m].mean() for m in range(k)] for f in fams])
    best = np.array([int(np.argmax(q[i] - lam * c[i])) for i in range(len(fams))])
    dominated = np.zeros((len(fams), k), dtype=bool)
    for i in range(len(fams)):
        for m in range(k):
            ge = (q[i] >= q[i, m]) & (c[i] <= c[i, m])
            strict = (q[i] > q[i, m]) | (c[i] < c[i, m])
            dominated[i, m] = bool(np.any(ge & strict))
    fi = np.searchsorted(fams, w.family)
    fbest = best[fi]
    regret = util[rows, fbest] - util[rows, arm]
    dear = c[fi, arm] > c[fi, fbest]
    bin_ = np.full(n, "best", dtype=object)
    bin_[(arm != fbest) & dominated[fi, arm] & dear] = "dominated_dear"
    bin_[(arm != fbest) & dominated[fi, arm] & ~dear] = "dominated_cheap"
    bin_[(arm != fbest) & ~dominated[fi, arm] & dear] = "frontier_dear"
    bin_[(arm != fbest) & ~dominated[fi, arm] & ~dear] = "frontier_cheap"
    bin_[explored] = "floor"
    out = {"windows": [], "total": {}}
    edges = [e for e in windows if e < n] + [n]
    for lo, hi in zip(edges[:-1], edges[1:]):
        sl = slice(lo, hi)
        win = {"from": lo, "to": hi,
               "regret": float(regret[sl].sum() / (hi - lo)),
               "pulls_best": float(np.mean(arm[sl] == fbest[sl])),
               "pulls_dominated": float(np.mean(dominated[fi[sl], arm[sl]])),
               "floor_share": float(np.mean(explored[sl]))}
        for b in BINS:
            sel = bin_[sl] == b
            win[b] = float(regret[sl][sel].sum() / (hi - lo))
        # convergence: |predicted − true mean quality| per (family, model), over the window
        err, err_best = [], []
        for i, f in enumerate(fams):
            sel = w.family[sl] == f
            if not sel.any():
                continue
            e = np.abs(mean[sl][sel].mean(axis=0) - q[i])
            err.append(e.mean())
            err_best.append(e[best[i]])
        win["pred_error"] = float(np.mean(err))
        win["pred_error_best"] = float(np.mean(err_best))
        out["windows"].append(win)
    # stuck families: in the last window the family's best model gets < 10 % of the family's
    # requests while its prediction there is below its true mean quality by > 0.1 (it was
    # written off on the evidence of other families and is no longer explored)
    lo = edges[-2]
    stuck = []
    for i, f in enumerate(fams):
        sel = np.flatnonzero(w.family[lo:] == f) + lo
        if len(sel) and np.mean(arm[sel] == best[i]) < 0.1 \
                and mean[sel, best[i]].mean() < q[i, best[i]] - 0.1:
            stuck.append({"family": w.families[f], "model": d.models[best[i]],
                          "predicted": float(mean[sel, best[i]].mean()),
                          "true": float(q[i, best[i]]),
                          "regret": float(regret[sel].sum() / (n - lo))})
    out["stuck"] = stuck
    out["total"] = {b: float(regret[bin_ == b].sum() / n) for b in BINS}
    out["total"]["regret"] = float(regret.sum() / n)
    out["total"]["oracle"] = float((util.max(axis=1) - util[rows, fbest]).sum() / n)
    out["total"]["pulls"] = {b: float(np.mean(bin_ == b)) for b in BINS}
    out["best"] = [d.models[b] for b in best]
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenario", default="bench11")
    p.add_argument("--steps", type=int, default=3150)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cost-weights", default="0,10,20,40,80,160")
    p.add_argument("--policies", default="thompson,ceiling")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--json")
    a = p.parse_args(argv)
    lams = [float(v) for v in a.cost_weights.split(",")]
    labels = [c.label for c in build_policies(a.policies, 100, _spec())]
    tasks = [(a.scenario, a.steps, s, lam, lab, a.policies)
             for s in range(a.seed, a.seed + a.seeds) for lam in lams for lab in labels]
    from simulations.experiment import _init_worker

    with ProcessPoolExecutor(a.workers, initializer=_init_worker) as ex:
        res = list(ex.map(_task, tasks))
    report(res, labels, lams)
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(res, fh, indent=1)


def report(res: list[dict], labels: list[str], lams: list[float]) -> None:
    def mean(key, rows, sub="total"):
        return float(np.mean([r[sub][key] for r in rows]))

    print("regret per request against the family's best fixed model, mean over seeds")
    print("policy | λ | regret | " + " | ".join(BINS) + " | per-request oracle")
    for lab in labels:
        for lam in lams + [None]:
            rows = [r for r in res if r["policy"] == lab and (lam is None or r["cost_weight"] == lam)]
            cells = " | ".join(f"{mean(b, rows):+.4f}" for b in BINS)
            print(f"{lab} | {'all' if lam is None else f'{lam:g}'} | {mean('regret', rows):+.4f}"
                  f" | {cells} | {-mean('oracle', rows):+.4f}")
    print("\nstuck families (last window: the family's best model on < 10 % of its requests, "
          "predicted > 0.1 below its true quality): runs with one, families, their regret")
    for lab in labels:
        rows = [r for r in res if r["policy"] == lab]
        st = [s for r in rows for s in r["stuck"]]
        print(f"{lab}: {sum(bool(r['stuck']) for r in rows)} of {len(rows)} runs, "
              f"{len(st)} families, late regret in them {sum(s['regret'] for s in st) / len(rows):.4f}"
              f" per request and run; e.g. {[(s['model'], s['family']) for s in st[:4]]}")
    print("\nshare of pulls per bin (all λ)")
    for lab in labels:
        rows = [r for r in res if r["policy"] == lab]
        print(lab, {b: round(float(np.mean([r["total"]["pulls"][b] for r in rows])), 3)
                    for b in BINS})
    print("\nby window (all λ): regret, bins, share of pulls on the family's best, on dominated "
          "models, floor share, prediction error (all cells / best)")
    for lab in labels:
        rows = [r for r in res if r["policy"] == lab]
        for i, w in enumerate(rows[0]["windows"]):
            ws = [r["windows"][i] for r in rows]
            m = {key: float(np.mean([x[key] for x in ws])) for key in w if key not in ("from", "to")}
            print(f"{lab} {w['from']:>5}-{w['to']:<5} regret {m['regret']:+.4f} | "
                  + " ".join(f"{b} {m[b]:+.4f}" for b in BINS)
                  + f" | best {m['pulls_best']:.2f} dom {m['pulls_dominated']:.2f} "
                    f"floor {m['floor_share']:.3f} | err {m['pred_error']:.3f} / "
                    f"{m['pred_error_best']:.3f}")


if __name__ == "__main__":
    main()
