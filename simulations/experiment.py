"""Run several policies × seeds × cost weights over one data source and summarise them.

Real data is shuffled per seed (progressive evaluation over a random order); synthetic
scenarios are regenerated per seed. Runs are spread over worker processes, each pinned
to one BLAS thread, and are deterministic per seed whatever the number of workers.
"""

from __future__ import annotations

import csv
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path
from typing import Sequence

import numpy as np

from bandit_router.policy import Observations, SufficientStats, learn
from simulations import frontier, metrics
from simulations.data import Dataset
from simulations.runner import Log, PolicyConfig, run

LOG_COLUMNS = ("policy", "seed", "cost_weight", "step", "request_id", "model", "propensity",
               "reward", "cost_usd")


@dataclass(frozen=True)
class Task:
    seed: int
    config: PolicyConfig
    cost_weight: float


def cost_weight_grid(data: Dataset, points: int = 11) -> np.ndarray:
    """Cost weights λ whose runs span all-strong (λ = 0) to all-weak.

    ``λ · (mean cost gap between the dearest and cheapest model)`` runs quadratically from 0
    to the reward range: at the top no reward difference can pay for the dearer model.
    """
    gap = float(data.cost.mean(axis=0).max() - data.cost.mean(axis=0).min())
    spread = float(data.reward.max() - data.reward.min()) or 1.0
    if gap <= 0:
        return np.zeros(1)
    return spread * np.linspace(0.0, 1.0, points) ** 2 / gap


_DATASETS: dict[int, Dataset] = {}


def _init_worker() -> None:
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        pass


def _run_task(task: Task) -> Log:
    return charge(run(_DATASETS[task.seed], task.config, task.seed, task.cost_weight),
                  _DATASETS[task.seed])


def charge(log: Log, data: Dataset) -> Log:
    """The run's calls at their real prices, when those differ from what deciding saw."""
    if data.charged is None:
        return log
    return replace(log, cost_usd=data.charged[np.arange(log.steps), log.arm])


def run_tasks(datasets: dict[int, Dataset], tasks: Sequence[Task], workers: int = 1,
              progress: bool = True) -> list[Log]:
    """Run every task; the result order matches ``tasks``."""
    from tqdm import tqdm

    _DATASETS.clear()
    _DATASETS.update(datasets)
    bar = tqdm(total=len(tasks), desc="simulate", unit="run", disable=not progress)
    out: list[Log] = []
    try:
        if workers <= 1:
            _init_worker()
            for t in tasks:
                out.append(_run_task(t))
                bar.update()
        else:
            ctx = get_context("fork" if "fork" in get_all_start_methods() else None)
            with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker) as ex:
                for log in ex.map(_run_task, tasks, chunksize=1):
                    out.append(log)
                    bar.update()
    finally:
        bar.close()
    return out


def holdout_ceiling(data: Dataset, config: PolicyConfig, cost_weights: Sequence[float],
                    seed: int = 0):
    """Full-information ridge trained on the first half, routing the second half greedily.

    Returns the test half and one run log per cost weight.
    """
    half = data.n // 2
    train, test = data.take(np.arange(half)), data.take(np.arange(half, data.n))
    start = SufficientStats.empty(list(data.models), data.X.shape[1])
    priced = train.charged is not None
    batch = Observations.full_information(data.models, train.X, train.reward,
                                          estimate=train.cost if priced else None,
                                          charged=train.charged if priced else None)
    view = learn(config.spec, start, [batch], now=0.0).posterior.view(data.models)
    greedy = config.spec.policy(data.k)
    rng = np.random.default_rng(0)
    logs = []
    for lam in cost_weights:
        arm = np.array([greedy.choose(view, x, rng, cost=c, cost_weight=lam).index
                        for x, c in zip(test.X, test.cost)], dtype=np.intp)
        r = np.arange(test.n)
        logs.append(Log("ceiling-holdout", seed, float(lam), data.models, test.ids, arm,
                        np.ones(test.n), test.reward[r, arm], test.billed[r, arm]))
    return test, logs


def sweep_summary(logs: Sequence[Log], datasets: dict[int, Dataset]) -> dict:
    """APGR and CPT(50 %), CPT(80 %) per policy, from the per-step logs of a λ sweep."""
    any_data = next(iter(datasets.values()))
    strong = any_data.strongest()
    weak = 1 - strong
    by_policy: dict[str, dict[int, list[Log]]] = {}
    for log in logs:
        by_policy.setdefault(log.policy, {}).setdefault(log.seed, []).append(log)
    out = {}
    for policy, per_seed in by_policy.items():
        rows = []
        for seed, seed_logs in sorted(per_seed.items()):
            data = datasets[seed] if seed in datasets else any_data
            q_weak = float(data.reward[:, weak].mean())
            q_strong = float(data.reward[:, strong].mean())
            pts = np.array([metrics.sweep_point(lg, strong) for lg in seed_logs])
            rows.append({
                "seed": seed,
                "apgr": metrics.apgr(pts[:, 0], pts[:, 1], q_weak, q_strong),
                "cpt50": metrics.cpt(pts[:, 0], pts[:, 1], q_weak, q_strong, 0.5),
                "cpt80": metrics.cpt(pts[:, 0], pts[:, 1], q_weak, q_strong, 0.8),
                "points": [{"cost_weight": lg.cost_weight, "strong_share": float(p[0]),
                            "quality": float(p[1]), "cost_usd": float(lg.cost_usd.sum())}
                           for lg, p in zip(seed_logs, pts)],
            })
        out[policy] = {
            "apgr": metrics.mean_sd(r["apgr"] for r in rows),
            "cpt50": metrics.mean_sd(r["cpt50"] for r in rows),
            "cpt80": metrics.mean_sd(r["cpt80"] for r in rows),
            "per_seed": rows,
        }
    return out


def policy_summary(runs: Sequence[dict]) -> dict:
    """Mean ± sd over seeds of each policy's headline numbers at each cost weight."""
    groups: dict[tuple[str, float], list[dict]] = {}
    for r in runs:
        groups.setdefault((r["policy"], r["cost_weight"]), []).append(r)
    out = []
    for (policy, lam), rs in groups.items():
        row = {"policy": policy, "cost_weight": lam, "seeds": len(rs)}
        for key in ("mean_reward", "total_cost_usd", "mean_cost_usd", "regret", "recovery_steps",
                    "latency_p95_ms"):
            if key in rs[0]:
                row[key] = metrics.mean_sd(r[key] for r in rs)
        if any(r.get("recovery_steps") is None for r in rs if "recovery_steps" in r):
            row["never_recovered"] = sum(r.get("recovery_steps") is None for r in rs)
        row["drift_alarms"] = metrics.mean_sd(len(r["drift_alarms"]) for r in rs)
        row["share"] = {m: float(np.mean([r["share"][m] for r in rs])) for m in rs[0]["share"]}
        out.append(row)
    return out


def write_logs(logs: Sequence[Log], path: str | Path) -> Path:
    """One row per request of every run: CSV, or Parquet when the path ends in .parquet."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        import pyarrow as pa  # optional dependency
        import pyarrow.parquet as pq

        cols = {c: [] for c in LOG_COLUMNS}
        for lg in logs:
            n = lg.steps
            cols["policy"].append(np.full(n, lg.policy, dtype=object))
            cols["seed"].append(np.full(n, lg.seed))
            cols["cost_weight"].append(np.full(n, lg.cost_weight))
            cols["step"].append(np.arange(n))
            cols["request_id"].append(lg.request_id)
            cols["model"].append(np.asarray(lg.models, dtype=object)[lg.arm])
            cols["propensity"].append(lg.propensity)
            cols["reward"].append(lg.reward)
            cols["cost_usd"].append(lg.cost_usd)
        table = pa.table({c: np.concatenate(v) for c, v in cols.items()})
        pq.write_table(table, path)
        return path
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(LOG_COLUMNS)
        for lg in logs:
            model = np.asarray(lg.models, dtype=object)[lg.arm]
            lam = repr(lg.cost_weight)
            w.writerows(zip([lg.policy] * lg.steps, [lg.seed] * lg.steps, [lam] * lg.steps,
                            range(lg.steps), lg.request_id.tolist(), model.tolist(),
                            lg.propensity.tolist(), lg.reward.tolist(), lg.cost_usd.tolist()))
    return path


def read_logs(path: str | Path, models: Sequence[str]) -> list[Log]:
    """Read a CSV log back into run logs (one per policy, seed and cost weight)."""
    index = {m: i for i, m in enumerate(models)}
    runs: dict[tuple, dict[str, list]] = {}
    with Path(path).open(newline="") as fh:
        for row in csv.DictReader(fh):
            key = (row["policy"], int(row["seed"]), float(row["cost_weight"]))
            r = runs.setdefault(key, {"id": [], "arm": [], "p": [], "r": [], "c": []})
            r["id"].append(int(row["request_id"]))
            r["arm"].append(index[row["model"]])
            r["p"].append(float(row["propensity"]))
            r["r"].append(float(row["reward"]))
            r["c"].append(float(row["cost_usd"]))
    return [Log(p, s, lam, tuple(models), np.array(v["id"]), np.array(v["arm"], dtype=np.intp),
                np.array(v["p"]), np.array(v["r"]), np.array(v["c"]))
            for (p, s, lam), v in runs.items()]


def default_workers() -> int:
    return max(1, min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                      else (os.cpu_count() or 1), 8))


def frontier_report(logs: Sequence[Log], datasets: dict[int, Dataset],
                    held: Sequence[Log] = (), tests: dict[int, Dataset] | None = None) -> dict:
    """:func:`frontier.frontier_summary` of a sweep (any number of models), with the
    ``ceiling-holdout`` runs scored against the hull of their test halves, and the same
    measures over the second half of every online run (``second_half``)."""
    out = frontier.frontier_summary(logs, datasets)
    if held:
        out["policies"].update(frontier.frontier_summary(held, tests or {})["policies"])
    late = frontier.frontier_summary(*frontier.second_half(logs, datasets))
    keys = ("above", "above_positive_cost_weight", "margin", "q30", "q50", "aiq")
    out["second_half"] = {
        "hull": {k: late["hull"][k] for k in ("q30", "q50", "aiq")},
        "policies": {p: {k: v[k] for k in keys} for p, v in late["policies"].items()},
    }
    return out
