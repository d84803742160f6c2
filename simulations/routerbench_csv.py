"""Write a ``families`` or ``bench11`` world as a RouterBench-shaped response file (issue
17's held-out form).

One row per request: ``prompt``, ``eval_name`` (the task family, text: ignored by the
reader), and per model its quality (``MODEL``) and the real price of that call
(``MODEL|total_cost``, USD, the answer's length included). Replayed with ``simulate --data``,
the router decides on each model's mean price over the file and is charged each call's real
price, as with RouterBench itself; the catalog prices of the scenario play no part.

    python -m simulations.routerbench_csv --seed 0 --steps 3150 --out out/families_rb.csv
    python -m simulations.routerbench_csv --scenario bench11 --seed 0 --out out/bench11_rb.csv
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Sequence

from simulations import bench11, families

WORLDS = {"families": families, "bench11": bench11}
DEFAULT_STEPS = {"families": 3150, "bench11": 3150}


def write(world, path: str | Path, family_names: Sequence[str] = families.FAMILIES) -> None:
    """``world``: a ``families.World`` or ``bench11.World`` (models, texts, family, reward,
    charged); ``family_names`` names its family indices."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["prompt", "eval_name", *world.models,
                      *(f"{m}|total_cost" for m in world.models)])
        for i, text in enumerate(world.texts):
            out.writerow([text, family_names[world.family[i]],
                          *(repr(float(q)) for q in world.reward[i]),
                          *(repr(float(c)) for c in world.charged[i])])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", choices=sorted(WORLDS), default="families")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=None,
                    help="requests (default 3150, the held-out benchmark's size)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    module = WORLDS[args.scenario]
    steps = args.steps or DEFAULT_STEPS[args.scenario]
    write(module.generate(args.seed, steps), args.out, module.FAMILIES)
    print(f"wrote {steps} requests × {len(module.MODELS)} models of {args.scenario} to "
          f"{args.out}")


if __name__ == "__main__":
    main()
