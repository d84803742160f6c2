"""OPE interval coverage when the logging policy uses another prior.

``python -m simulations.prior_coverage PRECISION EXPLORATION`` runs the same coverage check
as ``tests/ope/test_coverage.py`` with the logging Thompson policy's prior changed, and
prints the minimum coverage over the cells and the cells below 0.92.
"""

import functools
import sys

import bandit_router.ope.validate as v
from bandit_router.policy import Prior

precision, exploration = float(sys.argv[1]), float(sys.argv[2])
v.Prior = functools.partial(Prior, precision=precision, exploration=exploration)
out = v.coverage(runs=50, n=3000, n_boot=300, seed=0, truth_contexts=40_000,
                 names=("linucb λ=60", "always strong"))
cov = {k: val["coverage"] for k, val in out["cells"].items()}
print(precision, exploration, "min coverage", min(cov.values()),
      {k: c for k, c in cov.items() if c < 0.92})
