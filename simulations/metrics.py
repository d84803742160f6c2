"""Metrics computed from per-step logs, so that anyone can recompute them from the CSV.

RouteLLM's routing metrics (Ong et al., "RouteLLM: Learning to Route LLMs with Preference
Data", 2024, and ``routellm/evals``): for two models, a router's operating point is the
share of calls to the strong model and the quality it reaches.
``PGR(x) = (quality − weak) / (strong − weak)``; APGR is the trapezoid area under PGR over
the measured points sorted by share, with the all-weak (0, 0) and all-strong (1, 1) points
added at the ends (no envelope, no smoothing); ``CPT(p)`` is the strong share at which the
curve first reaches PGR ``p``, linearly interpolated between measured points.
"""

from __future__ import annotations

import numpy as np

from simulations.baselines import oracle_router
from simulations.data import Dataset
from simulations.runner import Log


def pgr(quality: np.ndarray | float, weak: float, strong: float) -> np.ndarray:
    """Performance gap recovered: 0 at the weak model's quality, 1 at the strong one's."""
    return (np.asarray(quality, dtype=np.float64) - weak) / (strong - weak)


def pgr_curve(share: np.ndarray, quality: np.ndarray, weak: float, strong: float):
    """(share, PGR) sorted by share, with (0, 0) and (1, 1) added at the ends."""
    share = np.asarray(share, dtype=np.float64)
    order = np.argsort(share, kind="stable")
    x = np.concatenate(([0.0], share[order], [1.0]))
    y = np.concatenate(([0.0], pgr(np.asarray(quality)[order], weak, strong), [1.0]))
    return x, y


def apgr(share: np.ndarray, quality: np.ndarray, weak: float, strong: float) -> float:
    """Average performance gap recovered: trapezoid area under the PGR curve."""
    x, y = pgr_curve(share, quality, weak, strong)
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0))


def cpt(share: np.ndarray, quality: np.ndarray, weak: float, strong: float, target: float) -> float:
    """Call-performance threshold: strong share needed to first reach PGR ``target``."""
    x, y = pgr_curve(share, quality, weak, strong)
    hit = np.flatnonzero(y >= target)
    i = int(hit[0])  # always exists: the curve ends at PGR 1
    if i == 0:
        return 0.0
    x0, x1, y0, y1 = x[i - 1], x[i], y[i - 1], y[i]
    return float(x0 + (target - y0) * (x1 - x0) / (y1 - y0))


def chosen_expected(log: Log, data: Dataset) -> np.ndarray:
    """Expected reward of the chosen model at every step (the realised one for real data)."""
    return data.expected[np.arange(log.steps), log.arm]


def regret(log: Log, data: Dataset) -> np.ndarray:
    """Per-step regret in expected utility against the per-request oracle (never negative)."""
    rows = np.arange(log.steps)
    u = data.expected - log.cost_weight * data.cost
    best = u[rows, oracle_router(data, log.cost_weight)[0]]
    return best - u[rows, log.arm]


def recovery_time(policy_reward: np.ndarray, oracle_reward: np.ndarray, change: int,
                  window: int = 250, tolerance: float = 0.05) -> int | None:
    """Requests after ``change`` until the policy's mean reward over the next ``window``
    requests is within ``tolerance`` (relative) of the oracle's over the same requests.

    ``None`` when that never happens before the stream ends.
    """
    p = np.concatenate(([0.0], np.cumsum(policy_reward[change:])))
    o = np.concatenate(([0.0], np.cumsum(oracle_reward[change:])))
    m = len(p) - 1 - window
    if m < 0:
        return None
    pw = p[window:window + m + 1] - p[: m + 1]
    ow = o[window:window + m + 1] - o[: m + 1]
    ok = np.flatnonzero(pw >= (1.0 - tolerance) * ow)
    return int(ok[0]) if len(ok) else None


def shares(log: Log) -> dict[str, float]:
    counts = np.bincount(log.arm, minlength=len(log.models)) / max(log.steps, 1)
    return {m: float(c) for m, c in zip(log.models, counts)}


def summarize(log: Log, data: Dataset, window: int = 250, tolerance: float = 0.05) -> dict:
    """Headline numbers of one run."""
    out = {
        "policy": log.policy,
        "seed": log.seed,
        "cost_weight": log.cost_weight,
        "mean_reward": float(log.reward.mean()),
        "total_cost_usd": float(log.cost_usd.sum()),
        "mean_cost_usd": float(log.cost_usd.mean()),
        "regret": float(regret(log, data).sum()),
        "share": shares(log),
        "drift_alarms": [{"step": t, "model": m} for t, m in log.drift_alarms],
    }
    if data.drift_step is not None:
        oracle_arm = oracle_router(data, log.cost_weight)[0]
        rows = np.arange(data.n)
        out["recovery_steps"] = recovery_time(chosen_expected(log, data),
                                              data.expected[rows, oracle_arm],
                                              data.drift_step, window, tolerance)
    if log.latency_ms is not None:
        out["latency_p95_ms"] = float(np.percentile(log.latency_ms, 95))
    return out


def sweep_point(log: Log, strong: int) -> tuple[float, float]:
    """(strong share, mean quality) of one run."""
    return float(np.mean(log.arm == strong)), float(log.reward.mean())


def mean_sd(values) -> dict:
    v = np.array([x for x in values if x is not None], dtype=np.float64)
    if len(v) == 0:
        return {"mean": None, "sd": None, "n": 0}
    return {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            "n": int(len(v))}
