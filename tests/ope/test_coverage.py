"""In simulation, where the candidate's true value is known, the 95% intervals cover it.

The same 50 seeded runs of 3000 decisions as ``python -m bandit_router.ope.validate`` (the
figures docs/ope.md reports), with fewer bootstrap resamples and the two candidates whose
probabilities are cheap to compute, so that it runs in about 20 s.
"""

from __future__ import annotations

import pytest

from bandit_router.ope.validate import coverage

pytestmark = pytest.mark.timeout(120)


def test_every_estimator_covers_the_true_value_in_at_least_90_percent_of_50_runs():
    out = coverage(runs=50, n=3000, n_boot=300, seed=0, truth_contexts=40_000,
                   names=("linucb λ=60", "always strong"))
    low = {k: v["coverage"] for k, v in out["cells"].items() if v["coverage"] < 0.9}
    assert not low, f"coverage below 90%: {low}"
    assert len(out["cells"]) == 2 * 3 * 3
