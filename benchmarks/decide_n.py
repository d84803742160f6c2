"""N decisions of the decision benchmark's router, nothing else: the program that
``valgrind --tool=callgrind`` counts (its instructions at N minus at N = 0, over N, are one
decision's, independent of the machine's load).

    valgrind --tool=callgrind --callgrind-out-file=cg-0.out python -m benchmarks.decide_n 10 0
    valgrind --tool=callgrind --callgrind-out-file=cg-1000.out python -m benchmarks.decide_n 10 1000
    python -m benchmarks.decide_n 10 1000 --src ../main/src     # another checkout's tree
    python -m benchmarks.decide_n 10 1000 --numpy-predict    # posterior.NATIVE off

The router is built as ``benchmarks.decision_ab`` builds it (``--src``: that checkout's
package, imported beside this one), warmed with one decision per prompt (256);
``decision_id`` is given.
"""

from __future__ import annotations

import argparse
import importlib
import os
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from benchmarks.common import prompts  # noqa: E402
from benchmarks.decision_ab import _import_base, _router  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("k", type=int)
    p.add_argument("n", type=int)
    p.add_argument("--src", type=Path, help="src/ of another checkout (default: this tree)")
    p.add_argument("--numpy-predict", action="store_true",
                   help="the numpy prediction (ArmView.predict_numpy), not the C helper's")
    a = p.parse_args()
    pkg = _import_base(a.src) if a.src else "bandit_router"
    if a.numpy_predict:
        importlib.import_module(f"{pkg}.policy.posterior").NATIVE = False
    router, Req = _router(pkg, a.k)
    reqs = [Req(prompt=t) for t in prompts(256, seed=2)]
    for r in reqs:  # every prompt once: the word cache warm
        router.decide(r, decision_id="x")
    for i in range(a.n):
        router.decide(reqs[i % len(reqs)], decision_id="x")


if __name__ == "__main__":
    main()
