"""Write a ``families`` world as a RouterBench-shaped response file (issue 17's held-out form).

One row per request: ``prompt``, ``eval_name`` (the task family, text: ignored by the
reader), and per model its quality (``MODEL``) and the real price of that call
(``MODEL|total_cost``, USD, the answer's length included). Replayed with ``simulate --data``,
the router decides on each model's mean price over the file and is charged each call's real
price, as with RouterBench itself; the catalog prices of the scenario play no part.

    python -m simulations.routerbench_csv --seed 0 --steps 3150 --out out/families_rb.csv
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from simulations import families


def write(world: families.World, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["prompt", "eval_name", *world.models,
                      *(f"{m}|total_cost" for m in world.models)])
        for i, text in enumerate(world.texts):
            out.writerow([text, families.FAMILIES[world.family[i]],
                          *(repr(float(q)) for q in world.reward[i]),
                          *(repr(float(c)) for c in world.charged[i])])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=3150)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    write(families.generate(args.seed, args.steps), args.out)
    print(f"wrote {args.steps} requests × {len(families.MODELS)} models to {args.out}")


if __name__ == "__main__":
    main()
