"""``benchmarks.decide_n`` with the featuriser and the policy memoised per prompt: what is
left of N decisions is the router's own work (line-up, prices, eligibility, explanation, the
decision record). For ``valgrind --tool=callgrind``, as decide_n:

    valgrind --tool=callgrind --callgrind-out-file=r-0.out python -m benchmarks.router_n 10 0
    valgrind --tool=callgrind --callgrind-out-file=r-1000.out python -m benchmarks.router_n 10 1000
    python -m benchmarks.router_n 10 1000 --src ../main/src [--no-id]

``--no-id``: no ``decision_id`` given, so the router makes its default one.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from benchmarks.common import prompts  # noqa: E402
from benchmarks.decision_ab import _import_base, _router  # noqa: E402


class _Memo:
    """The first answer of ``fn`` for each key, returned again for that key."""

    def __init__(self, fn, key) -> None:
        self.fn, self.key, self.seen = fn, key, {}

    def __call__(self, *args, **kwargs):
        k = self.key(*args)
        hit = self.seen.get(k)
        if hit is None:
            hit = self.seen[k] = self.fn(*args, **kwargs)
        return hit


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("k", type=int)
    p.add_argument("n", type=int)
    p.add_argument("--src", type=Path, help="src/ of another checkout (default: this tree)")
    p.add_argument("--no-id", action="store_true", help="let the router name each decision")
    a = p.parse_args()
    pkg = _import_base(a.src) if a.src else "bandit_router"
    router, Req = _router(pkg, a.k)
    fz, policy = router.featurizer, router.policy
    # Instance attributes in front of the methods (the router calls them through these).
    fz.transform = _Memo(fz.transform, lambda text, *_: text)
    object.__setattr__(policy, "choose", _Memo(policy.choose, lambda view, x, *_: id(x)))
    did = None if a.no_id else "x"
    reqs = [Req(prompt=t) for t in prompts(256, seed=2)]
    for r in reqs:  # every prompt once: features and choices memoised
        router.decide(r, decision_id=did)
    for i in range(a.n):
        router.decide(reqs[i % len(reqs)], decision_id=did)


if __name__ == "__main__":
    main()
