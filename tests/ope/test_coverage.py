"""In simulation, where the candidate's true value is known, the 95% intervals cover it.

The runs of ``python -m bandit_router.ope.validate`` (docs/ope.md): seed 0, 3000 decisions
each, with fewer bootstrap resamples and the two candidates whose probabilities are cheap to
compute, with and without operator rules. The table of 18 cells (candidate × estimator ×
outcome) is judged by the coverage guard (``bandit_router.ope.guard``; its design is in
docs/ope.md, "The coverage guard"): a test, at family-wise error 1 %, of whether any cell or
the mean over cells covers significantly less than 95 %. It replaces a per-cell bar of 90 %
that, at 100 runs over 18 cells with a standard error of 2–3 points each, failed intervals
as good as these by chance.

Each check carries its negative control on the same runs: the intervals shrunk so that a
normal 95 % interval would cover 85 %. The guard must fail those, or it shows nothing.
"""

from __future__ import annotations

import pytest

from bandit_router.ope.guard import shrink_factor
from bandit_router.ope.validate import coverage, guard

pytestmark = pytest.mark.timeout(600)

RUNS = 100
CHEAP_CANDIDATES = ("linucb λ=60", "always strong")


def checked(with_rules: bool) -> dict:
    out = coverage(runs=RUNS, n=3000, n_boot=300, seed=0, truth_contexts=40_000,
                   names=CHEAP_CANDIDATES, with_rules=with_rules, shrink=shrink_factor())
    assert len(out["cells"]) == 2 * 3 * 3
    return out


@pytest.mark.parametrize("with_rules", [False, True], ids=["no rules", "operator rules"])
def test_the_intervals_pass_the_coverage_guard_and_shrunk_ones_do_not(with_rules):
    """With rules: free plan on the cheap model only, eu requests never on the middle one;
    the eligibility logged per decision, and the candidates evaluated, and their truth
    computed, under the same rules."""
    out = checked(with_rules)
    result = guard(out)
    assert result.passed, result.summary()
    control = guard(out, negative_control=True)
    assert not control.passed, control.summary()


def test_a_log_that_forgets_what_the_rules_removed_fails_the_check_by_far():
    """The same rules, but the log says every model was a candidate: the candidates then put
    probability on models the rules never allowed, which the logs cannot show."""
    out = coverage(runs=10, n=3000, n_boot=200, seed=0, truth_contexts=40_000,
                   names=CHEAP_CANDIDATES, with_rules=True, forget_eligibility=True)
    cells = [v["coverage"] for v in out["cells"].values()]
    assert sum(cells) / len(cells) < 0.5, out["cells"]
    assert not guard(out).passed
