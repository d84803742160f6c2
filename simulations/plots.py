"""Matplotlib PNGs of a simulation: quality against cost, cumulative regret, routing share."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from simulations import frontier, metrics
from simulations.data import Dataset
from simulations.runner import Log


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def quality_vs_cost(summary: dict, logs: Sequence[Log], path: Path) -> Path:
    """One curve per policy: mean quality against mean cost per request, over λ (seed-mean)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 5))
    pts: dict[str, dict[float, list[tuple[float, float]]]] = {}
    for lg in logs:
        pts.setdefault(lg.policy, {}).setdefault(lg.cost_weight, []).append(
            (float(lg.cost_usd.mean()), float(lg.reward.mean())))
    for policy, by_lam in pts.items():
        xy = np.array([np.mean(v, axis=0) for _, v in sorted(by_lam.items())])
        order = np.argsort(xy[:, 0])
        ax.plot(xy[order, 0], xy[order, 1], marker="o", ms=3,
                ls="-" if len(xy) > 1 else "none", label=policy)
    front = summary.get("frontier")
    if front is not None:
        _draw_hull(ax, front)
    return _finish(plt, fig, ax, path, "mean cost per request (USD)", "mean quality (reward)",
                   "Quality against cost (each point: one λ, mean over seeds)")


def _draw_hull(ax, front: dict) -> None:
    """The single models (mean over seeds) and the hull of those means, dashed; dotted
    verticals at 30 % and 50 % of the strongest model's cost. Log cost axis when the prices
    span more than 20×."""
    rows = front["hull"]["per_seed"]
    models = list(rows[0]["models"])
    c = np.array([np.mean([r["models"][m]["cost_usd"] for r in rows]) for m in models])
    q = np.array([np.mean([r["models"][m]["quality"] for r in rows]) for m in models])
    v = frontier.envelope(c, q)
    log_x = c.max() > 20 * max(c.min(), 1e-300)
    xs = (np.geomspace if log_x else np.linspace)(v[0, 0], v[-1, 0], 200)
    xs = np.union1d(xs, v[:, 0])  # straight in cost, so curved on a log axis
    ax.plot(xs, frontier.curve_at(v, xs), "k--", lw=1, label="hull of single models")
    ax.scatter(c, q, marker="x", color="k", s=20, zorder=3)
    for m, x, y in zip(models, c, q):
        ax.annotate(m.rsplit("/", 1)[-1], (x, y), fontsize=6, xytext=(3, -8),
                    textcoords="offset points")
    star = int(np.lexsort((c, -q))[0])
    for f in frontier.FRACTIONS:
        ax.axvline(f * c[star], color="grey", ls=":", lw=0.8)
        ax.annotate(f"{f:.0%} of {models[star].rsplit('/', 1)[-1]}'s cost", (f * c[star], 0),
                    xycoords=("data", "axes fraction"), rotation=90, fontsize=6,
                    xytext=(2, 4), textcoords="offset points", color="grey")
    if log_x:
        ax.set_xscale("log")


def cumulative_regret(logs: Sequence[Log], datasets: dict[int, Dataset], path: Path) -> Path:
    """Cumulative regret against the oracle over requests, at the smallest λ of the run."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 5))
    lam0 = min(lg.cost_weight for lg in logs)
    curves: dict[str, list[np.ndarray]] = {}
    for lg in logs:
        if lg.cost_weight == lam0 or lg.policy in ("random", "cheapest", "strongest"):
            curves.setdefault(lg.policy, []).append(np.cumsum(metrics.regret(
                lg if lg.cost_weight == lam0 else _at(lg, lam0), datasets[lg.seed])))
    for policy, cs in curves.items():
        ax.plot(np.mean(cs, axis=0), label=policy)
    drift = next(iter(datasets.values())).drift_step
    if drift is not None:
        ax.axvline(drift, color="k", ls=":", lw=1)
    return _finish(plt, fig, ax, path, "request",
                   f"cumulative regret (expected utility, λ={lam0:.3g})",
                   "Cumulative regret against the per-request oracle")


def _finish(plt, fig, ax, path: Path, xlabel: str, ylabel: str, title: str | None) -> Path:
    """Label, add legend and grid, save as PNG and close: the common end of every plot."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title is not None:
        ax.set_title(title)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _at(lg: Log, lam: float) -> Log:
    from dataclasses import replace

    return replace(lg, cost_weight=lam)


def routing_share(logs: Sequence[Log], datasets: dict[int, Dataset], path: Path,
                  window: int = 250) -> Path:
    """Share of each model over time (moving average), one panel per learning policy."""
    plt = _plt()
    lam0 = min(lg.cost_weight for lg in logs)
    chosen = [lg for lg in logs if lg.cost_weight == lam0 and lg.policy not in
              ("random", "cheapest", "strongest")]
    policies = list(dict.fromkeys(lg.policy for lg in chosen))
    fig, axes = plt.subplots(len(policies), 1, figsize=(8, 1.8 * len(policies) + 1),
                             sharex=True, squeeze=False)
    data = next(iter(datasets.values()))
    kernel = np.ones(window) / window
    for ax, policy in zip(axes[:, 0], policies):
        runs = [lg for lg in chosen if lg.policy == policy]
        for j, m in enumerate(data.models):
            share = np.mean([np.convolve(lg.arm == j, kernel, mode="valid") for lg in runs],
                            axis=0)
            ax.plot(np.arange(len(share)) + window, share, label=m.rsplit("/", 1)[-1])
        if data.drift_step is not None:
            ax.axvline(data.drift_step, color="k", ls=":", lw=1)
        # Change alarms of every seed, as ticks along the top in the alarmed model's colour.
        colour = {m: ax.get_lines()[j].get_color() for j, m in enumerate(data.models)}
        for lg in runs:
            for step, m in lg.drift_alarms:
                ax.plot(step, 1.0, marker="v", ms=4, color=colour[m], clip_on=False)
        ax.set_ylabel(policy, fontsize=7)
        ax.set_ylim(-0.02, 1.02)
    axes[0, 0].legend(fontsize=7, ncol=len(data.models))
    axes[-1, 0].set_xlabel(f"request (share over the last {window})")
    fig.suptitle("Routing share over time (▼: a change alarm on that model"
                 + ("; dotted: the change)" if data.drift_step else ")"))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def pgr_curves(summary: dict, path: Path) -> Path:
    """PGR against strong share per policy (first seed), with the random diagonal."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 5))
    for policy, row in summary["sweep"].items():
        first = row["per_seed"][0]
        pts = np.array([(p["strong_share"], p["quality"]) for p in first["points"]])
        ref = summary["mean_quality"]
        weak, strong = sorted(ref.values())
        x, y = metrics.pgr_curve(pts[:, 0], pts[:, 1], weak, strong)
        ax.plot(x, y, marker=".", label=f"{policy} (APGR {row['apgr']['mean']:.3f})")
    ax.plot([0, 1], [0, 1], "k:", lw=1)
    ax.set_ylim(-0.2, 1.6)
    return _finish(plt, fig, ax, path, "share of calls to the strong model", "PGR", None)


def write_all(summary: dict, logs: Sequence[Log], datasets: dict[int, Dataset],
              directory: Path) -> list[Path]:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    out = [quality_vs_cost(summary, logs, directory / "quality_vs_cost.png"),
           cumulative_regret(logs, datasets, directory / "cumulative_regret.png"),
           routing_share(logs, datasets, directory / "routing_share.png")]
    if "sweep" in summary:
        out.append(pgr_curves(summary, directory / "pgr.png"))
    return out
