"""What the demo measured, per model, and the lines that say what it showed."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from bandit_router.demo.traffic import Exchange
from bandit_router.demo.upstreams import SimulatedModel

PART = 0.25  # "first" and "last" part of the run: this fraction of its duration each


@dataclass
class ModelFigures:
    id: str
    quality: float
    price: str
    expected_utility: float  # quality − λ · cost of a typical call: what the policy should find
    share_first: float
    share_last: float
    answered: int
    mean_reward: float | None
    spend_usd: float


@dataclass
class DemoResult:
    duration_s: float
    requests: int
    answered: int
    not_answered: int  # the proxy found no model able to answer
    cost_weight: float
    best: str  # the model with the best expected utility
    models: list[ModelFigures]
    outage: dict | None = None
    timeline: list[float] = field(default_factory=list)  # best's share per tenth of the run
    status_url: str = ""
    lines: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        return asdict(self)


def _share(exchanges: list[Exchange], model: str) -> float:
    answered = [e for e in exchanges if e.model is not None]
    return sum(e.model == model for e in answered) / len(answered) if answered else 0.0


def summarise(exchanges: list[Exchange], models: tuple[SimulatedModel, ...], *,
              duration_s: float, cost_weight: float, typical_tokens: tuple[int, int],
              outage: dict | None) -> DemoResult:
    first = [e for e in exchanges if e.at_s < PART * duration_s]
    last = [e for e in exchanges if e.at_s >= (1 - PART) * duration_s]
    figures = []
    for m in models:
        mine = [e for e in exchanges if e.model == m.id]
        rewards = [e.reward for e in mine if e.reward is not None]
        cost = (typical_tokens[0] * m.input_price_per_mtok
                + typical_tokens[1] * m.output_price_per_mtok) / 1e6
        figures.append(ModelFigures(
            id=m.id, quality=m.quality,
            price=f"{m.input_price_per_mtok:g}/{m.output_price_per_mtok:g}",
            expected_utility=round(m.quality - cost_weight * cost, 3),
            share_first=round(_share(first, m.id), 3), share_last=round(_share(last, m.id), 3),
            answered=len(mine),
            mean_reward=round(sum(rewards) / len(rewards), 3) if rewards else None,
            spend_usd=round(sum((e.prompt_tokens * m.input_price_per_mtok
                                 + e.completion_tokens * m.output_price_per_mtok) / 1e6
                                for e in mine), 6)))
    best = max(figures, key=lambda f: f.expected_utility).id
    if outage is not None:
        during = [e for e in exchanges if outage["start_s"] <= e.at_s < outage["end_s"]]
        outage = {**outage, "share_during": round(_share(during, outage["model"]), 3)}
    tenths = [[e for e in exchanges if k * duration_s / 10 <= e.at_s < (k + 1) * duration_s / 10]
              for k in range(10)]
    return DemoResult(duration_s=round(duration_s, 1), requests=len(exchanges),
                      answered=sum(e.model is not None for e in exchanges),
                      not_answered=sum(e.model is None for e in exchanges),
                      cost_weight=cost_weight, best=best, models=figures, outage=outage,
                      timeline=[round(_share(part, best), 3) for part in tenths])


def table(result: DemoResult) -> list[str]:
    pct = int(PART * 100)
    head = (f"{'model':15s} {'$/M in/out':>11s} {'quality':>7s} {'utility':>7s}  "
            f"{'share first ' + str(pct) + '%':>15s} {'share last ' + str(pct) + '%':>14s} "
            f"{'answers':>7s} {'mean reward':>11s} {'spend USD':>10s}")
    rows = [head, "-" * len(head)]
    for f in result.models:
        reward = "-" if f.mean_reward is None else f"{f.mean_reward:.3f}"
        rows.append(f"{f.id:15s} {f.price:>11s} {f.quality:>7.2f} {f.expected_utility:>7.3f}  "
                    f"{100 * f.share_first:>14.1f}% {100 * f.share_last:>13.1f}% "
                    f"{f.answered:>7d} {reward:>11s} {f.spend_usd:>10.4f}")
    return rows


def conclusion(result: DemoResult) -> list[str]:
    """The demo's last lines: what moved where, and why that is the right place."""
    by_id = {f.id: f for f in result.models}
    best = by_id[result.best]
    others = ", ".join(f"{f.id} {f.expected_utility:.2f}" for f in result.models if f.id != best.id)
    moved = best.share_last > best.share_first
    lines = [
        f"What it showed: in {result.duration_s:.0f} s and {result.requests} requests through the "
        f"proxy, routing {'moved toward' if moved else 'did NOT move toward'} {best.id}: "
        f"{100 * best.share_first:.0f}% of the answers in the first part of the run, "
        f"{100 * best.share_last:.0f}% in the last.",
        f"  {best.id} is the model that earns its price: its reward minus the cost weight "
        f"({result.cost_weight:g} reward per USD) times its price is {best.expected_utility:.2f} "
        f"per request ({others}).",
        f"  {best.id}'s share in each tenth of the run: "
        + " ".join(f"{100 * s:.0f}%" for s in result.timeline),
        "  The router was told none of this: it learned it from the graded answers alone.",
    ]
    if result.outage:
        o = result.outage
        mine = by_id[o["model"]]
        back = mine.share_last >= 0.5
        lines.append(
            f"  {o['model']} answered 503 from {o['start_s']:.0f} s to {o['end_s']:.0f} s "
            f"({o['failed']} failed tries; its circuit breaker kept it out for {o['open_s']:.0f} s"
            f"): its share fell to {100 * o['share_during']:.0f}% while the proxy fell back to "
            f"the others, and {'came back' if back else 'had NOT come back'} to "
            f"{100 * mine.share_last:.0f}% by the end"
            + (", because failed tries are not learned as bad answers." if back else "."))
    return lines
