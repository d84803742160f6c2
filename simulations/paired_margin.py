"""Paired comparison of policies run side by side on the same streams.

Policies in one ``bandit-router simulate --sweep --json`` run see the same stream at each
(seed, λ), so the difference of their margins over the single-model hull at the same
(seed, λ) removes what the stream itself contributes; its mean ± standard error over the runs
says whether a variant is better than the baseline more sharply than the two margins' own
spreads do. Reads ``frontier.policies[LABEL].runs`` of the summaries.

    python -m simulations.paired_margin out/fam_cold.json out/b11_cold.json --baseline thompson
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import typer


def paired(summary: dict, variant: str, baseline: str) -> dict:
    """``variant`` − ``baseline`` margin at each (seed, λ) both ran: mean, standard error,
    runs higher / lower, and each one's runs above the hull (of the paired runs)."""
    pols = summary["frontier"]["policies"]
    for label in (variant, baseline):
        if label not in pols:
            raise KeyError(f"no policy {label!r} in the summary (has: {', '.join(pols)})")

    def runs(label):
        return {(r["seed"], r["cost_weight"]): r for r in pols[label]["runs"]}

    a, b = runs(variant), runs(baseline)
    keys = sorted(a.keys() & b.keys())
    if not keys:
        raise ValueError(f"{variant!r} and {baseline!r} share no (seed, λ) run")
    diff = [a[k]["margin"] - b[k]["margin"] for k in keys]
    n = len(diff)
    mean = sum(diff) / n
    se = (math.sqrt(sum((x - mean) ** 2 for x in diff) / (n - 1) / n) if n > 1 else float("nan"))
    return {"variant": variant, "baseline": baseline, "runs": n, "mean": mean, "se": se,
            "higher": sum(x > 0 for x in diff), "lower": sum(x < 0 for x in diff),
            "above_variant": sum(bool(a[k]["above"]) for k in keys),
            "above_baseline": sum(bool(b[k]["above"]) for k in keys)}


def _read(path: Path) -> dict:
    """A summary written by ``simulate --json``, or a one-line error saying what to fix."""
    try:
        summary = json.loads(path.read_text())
        summary["frontier"]["policies"]
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc.strerror}") from None
    except (ValueError, KeyError, TypeError):
        raise typer.BadParameter(f"{path} is not a summary of a sweep (write one with "
                                 "bandit-router simulate --sweep --json PATH)") from None
    return summary


def main(summaries: list[Path] = typer.Argument(..., help="JSON summaries of sweeps"),
         baseline: str = typer.Option("thompson", help="the policy each other is paired with"),
         policies: str = typer.Option("", help="comma-separated variants (default: all others)"),
         ) -> None:
    typer.echo(f"{'summary':<28} {'variant':<40} {'margin − baseline':>20} {'higher/lower':>13}"
               f" {'above: baseline → variant':>27}")
    for path in summaries:
        summary = _read(path)
        labels = ([p.strip() for p in policies.split(",") if p.strip()] if policies
                  else [p for p in summary["frontier"]["policies"] if p != baseline])
        for label in labels:
            try:
                r = paired(summary, label, baseline)
            except (KeyError, ValueError) as exc:
                raise typer.BadParameter(f"{path}: {exc.args[0]}") from None
            typer.echo(f"{path.name:<28} {label:<40} {r['mean']:+.4f} ± {r['se']:.4f}"
                       f"   {r['higher']:>3} / {r['lower']:<3}   "
                       f"{r['above_baseline']:>4} → {r['above_variant']} of {r['runs']}")


if __name__ == "__main__":
    typer.run(main)
