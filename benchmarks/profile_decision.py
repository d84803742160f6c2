"""Where a decision's time goes: pyinstrument around ``Router.decide``.

    python -m benchmarks.profile_decision [K] [N]     # default K = 10, N = 20,000

The decision benchmark's router (posterior fitted on 400 rows per model, 2 KB prompts, one
BLAS thread); prints pyinstrument's call tree. Needs ``pip install pyinstrument``.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from bandit_router.features import DEFAULT_SPEC  # noqa: E402
from bandit_router.routing import RouteRequest  # noqa: E402
from benchmarks.common import prompts  # noqa: E402
from benchmarks.decision import _router  # noqa: E402


def main(k: int = 10, n: int = 20_000) -> None:
    from pyinstrument import Profiler

    router = _router(k, DEFAULT_SPEC, np.random.default_rng(0))
    reqs = [RouteRequest(prompt=p) for p in prompts(256, seed=2)]
    for r in reqs[:100]:
        router.decide(r)
    profiler = Profiler(interval=0.0001)
    profiler.start()
    for i in range(n):
        router.decide(reqs[i % len(reqs)])
    profiler.stop()
    print(profiler.output_text(unicode=False))


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
