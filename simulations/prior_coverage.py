"""OPE interval coverage when the logging policy uses another prior.

``python -m simulations.prior_coverage PRECISION EXPLORATION [RUNS]`` runs the coverage
check of ``tests/ope/test_coverage.py`` (default 50 runs) with the logging Thompson
policy's prior changed, and prints the minimum coverage over the cells and the cells below
0.92. One cell's coverage over 50 runs has a standard error of about 0.03–0.04; use 200 or
more runs to compare priors.
"""

import sys

from bandit_router.ope.validate import coverage
from bandit_router.policy import Prior

precision, exploration = float(sys.argv[1]), float(sys.argv[2])
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 50
out = coverage(runs=runs, n=3000, n_boot=300, seed=0, truth_contexts=40_000,
               names=("linucb λ=60", "always strong"),
               logging_prior=Prior(precision=precision, optimism=0.5, exploration=exploration))
cov = {k: val["coverage"] for k, val in out["cells"].items()}
print(precision, exploration, runs, "runs: min coverage", min(cov.values()),
      {k: c for k, c in cov.items() if c < 0.92})
