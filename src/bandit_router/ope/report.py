"""An :class:`~bandit_router.ope.meta.Evaluation` as a plain-text table and as JSON."""

from __future__ import annotations

from dataclasses import asdict

from bandit_router.ope.meta import OUTCOMES, Evaluation

_HEAD = {"reward": "reward", "cost_usd": "cost USD/request", "utility": "utility"}


def to_dict(ev: Evaluation) -> dict:
    """JSON-ready: estimates with intervals, overlap diagnostics and ``trustworthy``."""
    return {
        "candidate": ev.candidate,
        "decisions": ev.n,
        "excluded": ev.excluded,
        "level": ev.level,
        "cost_weight": ev.cost_weight,
        "logged": ev.logged,
        "estimates": {est: {o: asdict(e) for o, e in per.items()}
                      for est, per in ev.estimates.items()},
        "overlap": ev.overlap.to_dict(),
        "trustworthy": ev.trustworthy,
        "warnings": list(ev.overlap.warnings),
    }


def _num(v: float, outcome: str) -> str:
    return f"{v:.3g}" if outcome == "cost_usd" else f"{v:.4f}"


def render(ev: Evaluation) -> str:
    """The table a person reads: one row per estimator, value [low, high] per outcome."""
    lam = "each decision's logged λ" if ev.cost_weight is None else f"λ = {ev.cost_weight:g}"
    lines = [f"candidate: {ev.candidate}",
             f"evaluated on {ev.n} logged decisions with feedback"]
    lines += [f"{count} decisions {why} excluded" for why, count in ev.excluded.items()]
    lines.append(f"{ev.level:.0%} percentile-bootstrap intervals; utility = reward − λ·cost, "
                 f"{lam}")
    cells = [["estimator", *(_HEAD[o] for o in OUTCOMES)],
             ["logged policy", *(_num(ev.logged[o], o) for o in OUTCOMES)]]
    for est, per in ev.estimates.items():
        cells.append([est, *(f"{_num(per[o].value, o)} [{_num(per[o].low, o)}, "
                             f"{_num(per[o].high, o)}]" for o in OUTCOMES)])
    widths = [max(len(row[j]) for row in cells) for j in range(len(cells[0]))]
    lines.append("")
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    ov = ev.overlap
    lines += ["", (f"overlap: effective sample size {ov.ess:.1f} ({ov.ess_ratio:.1%} of {ov.n}), "
                   f"max weight {ov.max_weight:.3g} ({ov.max_weight_share:.1%} of the total), "
                   f"mean weight {ov.mean_weight:.3f} ± {ov.mean_weight_se:.3f}, "
                   f"{ov.zero_weight_share:.0%} of decisions unused by the candidate")]
    if ev.trustworthy:
        lines.append("overlap is adequate: the estimates can be trusted as far as the logged "
                     "propensities are right")
    else:
        lines.append("WARNING: low overlap, these estimates cannot be trusted:")
        lines += [f"  - {w}" for w in ov.warnings]
    return "\n".join(lines)
