"""Many-model routing metrics: quality against dollar cost, compared with the single models.

RouterBench's convention (Hu et al., "RouterBench: A Benchmark for Multi-LLM Routing
System", 2024): each run of a router is a point (mean cost per request, mean quality); the
single models' points span a *hull*, the non-decreasing concave upper envelope of those
points (in cost–quality space it is the upper convex hull, made non-decreasing). Sending a
share ``p`` of requests to one model and the rest to another lands on the segment between
their points, so every point under the hull is reached by a fixed mix of single models, and a
router earns its keep only above it. Definitions (all computed here from per-step logs):

* ``hull(c)``: the envelope, linear between its vertices, flat beyond the dearest vertex and,
  for a run cheaper than the cheapest model, flat to the left at the cheapest vertex's quality
  (conservative: such a run must beat that quality to count as above).
* ``margin`` of a run: ``quality − hull(cost)``; *above* the hull when ``margin > 1e-9``.
* A policy's *curve* on one seed: the same envelope over its runs (one per λ) and the
  always-cheapest model's point, which is where every cost-aware router ends as λ → ∞.
  Mixing two of its λ settings reaches any point on the segment between them.
* ``q@f`` (``q30``, ``q50``): ``curve(f · C*) / Q*``, where ``(C*, Q*)`` is the strongest
  single model's (highest mean quality, cheaper on ties) mean cost and quality; ``None`` when
  ``f · C*`` is below the cheapest model's cost.
* ``aiq``: the mean of ``curve(c) / Q*`` over ``c`` from the cheapest model's cost to ``C*``
  (the area under the curve over that range, divided by its width and by ``Q*``), in the
  spirit of RouterBench's AIQ; 1.0 would be the strongest model's quality at every cost.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import numpy as np

from simulations.data import Dataset
from simulations.metrics import mean_sd as _mean_sd
from simulations.runner import Log

ABOVE_EPS = 1e-9
FRACTIONS = (0.3, 0.5)


def envelope(cost: Sequence[float], quality: Sequence[float]) -> np.ndarray:
    """Vertices ``(k, 2)`` of the non-decreasing concave upper envelope of the points.

    Dominated points (dearer and no better than another) are dropped, then the upper hull
    of what remains is taken (Andrew's monotone chain), so costs and qualities both rise.
    """
    pts = np.column_stack([np.asarray(cost, float), np.asarray(quality, float)])
    if len(pts) == 0:
        raise ValueError("an envelope needs at least one point")
    pts = pts[np.lexsort((-pts[:, 1], pts[:, 0]))]  # by cost, best quality first on ties
    pareto = []
    for c, q in pts:
        if not pareto or q > pareto[-1][1]:
            pareto.append((c, q))
    hull: list[tuple[float, float]] = []
    for p in pareto:
        while len(hull) >= 2 and _cross(hull[-2], hull[-1], p) >= 0:
            hull.pop()
        hull.append(p)
    return np.array(hull)


def _cross(o, a, b) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def curve_at(vertices: np.ndarray, cost: float | np.ndarray, left: float | None = None):
    """The envelope's quality at ``cost``: linear between vertices, flat to the right; to the
    left of the first vertex ``left`` (``None``: the first vertex's quality)."""
    lo = vertices[0, 1] if left is None else left
    return np.interp(cost, vertices[:, 0], vertices[:, 1], left=lo, right=vertices[-1, 1])


def area(vertices: np.ndarray, lo: float, hi: float) -> float:
    """Mean of the envelope over ``[lo, hi]`` (exact: it is piecewise linear)."""
    if hi <= lo:
        return float(curve_at(vertices, lo))
    xs = np.unique(np.concatenate([[lo, hi], vertices[:, 0][(vertices[:, 0] > lo)
                                                            & (vertices[:, 0] < hi)]]))
    ys = curve_at(vertices, xs)
    return float(np.sum((xs[1:] - xs[:-1]) * (ys[1:] + ys[:-1]) / 2.0) / (hi - lo))


def single_models(data: Dataset) -> dict:
    """Each model's mean cost per request and mean quality on ``data``; the hull and its
    reference points (the strongest and the cheapest model)."""
    c = data.billed.mean(axis=0)
    q = data.reward.mean(axis=0)
    strongest = int(np.lexsort((c, -q))[0])
    cheapest = int(np.argmin(c))
    return {"models": list(data.models), "cost": c, "quality": q, "strongest": strongest,
            "cheapest": cheapest, "vertices": envelope(c, q)}


def _scores(vertices: np.ndarray, ref: dict) -> dict:
    """q@f and aiq of one curve, as shares of the strongest model's quality."""
    c_star, q_star = ref["cost"][ref["strongest"]], ref["quality"][ref["strongest"]]
    c_lo = ref["cost"][ref["cheapest"]]
    out = {}
    for f in FRACTIONS:
        at = f * c_star
        out[f"q{round(f * 100)}"] = (None if at < c_lo - 1e-15
                                     else float(curve_at(vertices, at) / q_star))
    out["aiq"] = float(area(vertices, c_lo, c_star) / q_star) if c_star > c_lo else None
    return out


def run_point(log: Log) -> tuple[float, float]:
    """(mean cost per request, mean quality) of one run."""
    return float(log.cost_usd.mean()), float(log.reward.mean())


def frontier_summary(logs: Sequence[Log], datasets: dict[int, Dataset]) -> dict:
    """Every run against the single-model hull of its seed, and each policy's curve.

    ``logs`` are the runs of a λ sweep (any number of models); ``datasets`` the stream of each
    seed. Returns ``{"hull": {...}, "policies": {label: {...}}}`` (keys in the README).
    """
    refs = {s: single_models(d) for s, d in datasets.items()}
    hull_rows = []
    for s, ref in sorted(refs.items()):
        hull_rows.append({
            "seed": s,
            "models": {m: {"cost_usd": float(c), "quality": float(q)}
                       for m, c, q in zip(ref["models"], ref["cost"], ref["quality"])},
            "strongest": ref["models"][ref["strongest"]],
            "cheapest": ref["models"][ref["cheapest"]],
            "vertices": [[float(c), float(q)] for c, q in ref["vertices"]],
            **_scores(ref["vertices"], ref),
        })
    hull = {"per_seed": hull_rows, **{k: _mean_sd(r[k] for r in hull_rows)
                                      for k in ("q30", "q50", "aiq")}}
    by_policy: dict[str, dict[int, list[Log]]] = {}
    for lg in logs:
        by_policy.setdefault(lg.policy, {}).setdefault(lg.seed, []).append(lg)
    policies = {}
    for policy, per_seed in by_policy.items():
        runs, seeds = [], []
        for s, seed_logs in sorted(per_seed.items()):
            ref = refs[s]
            pts = []
            for lg in sorted(seed_logs, key=lambda lg: lg.cost_weight):
                c, q = run_point(lg)
                margin = q - float(curve_at(ref["vertices"], c))
                runs.append({"seed": s, "cost_weight": lg.cost_weight, "cost_usd": c,
                             "quality": q, "margin": margin, "above": margin > ABOVE_EPS})
                pts.append((c, q))
            pts.append((ref["cost"][ref["cheapest"]], ref["quality"][ref["cheapest"]]))
            vertices = envelope(*zip(*pts))
            seeds.append({"seed": s, "vertices": [[float(c), float(q)] for c, q in vertices],
                          **_scores(vertices, ref)})
        priced = [r for r in runs if r["cost_weight"] > 0]
        policies[policy] = {
            "runs": runs,
            "above": _count(runs),
            "above_positive_cost_weight": _count(priced),
            "margin": _mean_sd(r["margin"] for r in runs),
            "best_margin": max(r["margin"] for r in runs),
            **{k: _mean_sd(r[k] for r in seeds) for k in ("q30", "q50", "aiq")},
            "per_seed": seeds,
        }
    return {"hull": hull, "policies": policies}


def second_half(logs: Sequence[Log], datasets: dict[int, Dataset]):
    """The same runs and streams restricted to their second half (learning mostly done)."""
    out_logs = []
    for lg in logs:
        cut = lg.steps // 2
        out_logs.append(replace(lg, request_id=lg.request_id[cut:], arm=lg.arm[cut:],
                                propensity=lg.propensity[cut:], reward=lg.reward[cut:],
                                cost_usd=lg.cost_usd[cut:], latency_ms=None, drift_alarms=()))
    out_data = {s: d.take(np.arange(d.n // 2, d.n)) for s, d in datasets.items()}
    return out_logs, out_data


def _count(runs: list[dict]) -> dict:
    n = sum(r["above"] for r in runs)
    return {"runs": n, "of": len(runs), "share": (n / len(runs)) if runs else None}
