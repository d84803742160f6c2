"""Console tables of a many-model sweep (the JSON summary holds the same numbers)."""

from __future__ import annotations

from typing import Callable


def _pct(ms: dict | None) -> str:
    if not ms or ms.get("mean") is None:
        return "-"
    return f"{100 * ms['mean']:.1f}±{100 * ms['sd']:.1f}%"


def _count(c: dict) -> str:
    return f"{c['runs']}/{c['of']}"


def frontier_tables(front: dict, echo: Callable[[str], None]) -> None:
    """Single models, every policy's runs per λ (mean over seeds), then each policy's
    standing against the single-model hull."""
    first = front["hull"]["per_seed"][0]
    echo(f"single models (seed {first['seed']}; strongest {first['strongest']}, "
         f"cheapest {first['cheapest']}):")
    for m, v in sorted(first["models"].items(), key=lambda kv: kv[1]["cost_usd"]):
        echo(f"  {m:<40} cost/request ${v['cost_usd']:.6f}  quality {v['quality']:.3f}")
    echo(f"{'policy':<32} {'λ':>8} {'quality':>8} {'cost/req $':>11} {'margin':>8} "
         f"{'above':>6}")
    for policy, row in front["policies"].items():
        by_lam: dict[float, list[dict]] = {}
        for r in row["runs"]:
            by_lam.setdefault(r["cost_weight"], []).append(r)
        for lam, rs in sorted(by_lam.items()):
            mean = (lambda k: sum(r[k] for r in rs) / len(rs))
            echo(f"{policy:<32} {lam:>8.4g} {mean('quality'):>8.4f} {mean('cost_usd'):>11.6f} "
                 f"{mean('margin'):>+8.4f} {sum(r['above'] for r in rs):>3}/{len(rs):<2}")
    late = front.get("second_half", {}).get("policies", {})
    echo("against the single-model hull (q30/q50: quality at 30 %/50 % of the strongest "
         "model's cost, share of its quality; aiq: mean share over the cost range; "
         "2nd half: the same over the second half of each run)")
    echo(f"{'policy':<32} {'above':>7} {'above λ>0':>10} {'mean margin':>16} {'q30':>13} "
         f"{'q50':>13} {'aiq':>13} {'q30 2nd half':>13}")
    hull, late_hull = front["hull"], front.get("second_half", {}).get("hull", {})
    echo(f"{'(hull of single models)':<32} {'':>7} {'':>10} {'':>16} {_pct(hull['q30']):>13} "
         f"{_pct(hull['q50']):>13} {_pct(hull['aiq']):>13} {_pct(late_hull.get('q30')):>13}")
    for policy, row in front["policies"].items():
        m = row["margin"]
        echo(f"{policy:<32} {_count(row['above']):>7} "
             f"{_count(row['above_positive_cost_weight']):>10} "
             f"{m['mean']:>+8.4f}±{m['sd']:.4f} {_pct(row['q30']):>13} {_pct(row['q50']):>13} "
             f"{_pct(row['aiq']):>13} {_pct(late.get(policy, {}).get('q30')):>13}")
