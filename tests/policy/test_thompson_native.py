"""Thompson sampling's decision in one C call (policy/_argmax.c, ``choose``) against the
numpy path that defines it (LinearPolicy.choose with ``thompson.NATIVE`` off): on thousands of
random posteriors, floors and eligibility masks, the same generator calls (the generator's
state after the decision is the same), the same chosen arm, floor flag, ranking and samples
bit for bit, and the same propensity up to the last bits of its integral's sum."""

from __future__ import annotations

import numpy as np
import pytest

from bandit_router.policy import NoEligibleArm, PolicySpec, thompson
from tests.features.test_scan import require_built
from tests.policy.test_propensity_native import _posterior_cases, _random_case

# The integral Σ w_g · Π Φ is summed in grid order in C and by BLAS's dot in numpy: 161 terms
# of at most ~0.05 each, so the two sums differ by a few units of 2⁻⁵³ (measured: ≤ 5.6e-16).
TOL = 1e-14

# Every floor rule the C decision covers, with floors large enough that many decisions explore
# (the uniform draw, and the weighted one over the arms not dominated).
SPECS = (PolicySpec(), PolicySpec(floor_mass=0.5, floor_prune=2.0),
         PolicySpec(floor_mass=0.5, floor_prune=0.0),
         PolicySpec(propensity_floor=0.1, floor_mass=0.0, floor_prune=0.0),
         PolicySpec(propensity_floor=0.0, floor_mass=0.0, floor_prune=0.0),
         PolicySpec(propensity_floor=0.2, floor_mass=0.3, floor_prune=0.5))


@pytest.fixture(autouse=True)
def _built():
    require_built(thompson.NATIVE, "policy/_argmax.c")


def _decide(policy, view, x, seed, cost, weight, eligible):
    rng = np.random.default_rng(seed)
    ch = policy.choose(view, x, rng, cost=cost, cost_weight=weight, eligible=eligible)
    return ch, rng.bit_generator.state


@pytest.fixture(params=[True, False], ids=["numpy's draw functions", "generator methods"])
def draws(request):
    """The C decision drawing by numpy's own fill functions (where found) or by calling the
    generator's methods: the same numbers either way."""
    found = thompson._set_direct(request.param)
    if request.param and not found:
        pytest.skip("numpy.random._generator exports no random_standard_normal_fill here")
    yield
    thompson._set_direct(thompson.DIRECT_DRAWS)


def test_the_c_decision_is_the_numpy_one(monkeypatch, draws):
    explored = 0
    for spec in SPECS:
        policy = spec.policy()
        for view, x, cost, eligible, seed in _posterior_cases(150, 11):
            for weight in (0.0, 300.0):
                fast, fast_state = _decide(policy, view, x, seed, cost, weight, eligible)
                with monkeypatch.context() as m:
                    m.setattr(thompson, "NATIVE", False)
                    slow, slow_state = _decide(policy, view, x, seed, cost, weight, eligible)
                assert fast_state == slow_state  # the same draws, no more, no fewer
                assert (fast.index, fast.explored) == (slow.index, slow.explored)
                assert fast.ranking.tolist() == slow.ranking.tolist()
                assert type(fast.score) is np.ndarray and fast.score.dtype == np.float64
                for a in ("mean", "sd", "utility", "score", "cost"):
                    assert np.asarray(getattr(fast, a)).tobytes() == \
                        np.asarray(getattr(slow, a)).tobytes(), a
                assert abs(fast.propensity - slow.propensity) <= TOL
                # what is logged is exactly what off-policy evaluation reads
                p = policy.probabilities(view, x, cost=cost, cost_weight=weight,
                                         eligible=eligible)
                assert p[fast.index] == fast.propensity
                explored += fast.explored
    assert explored > 300  # the floor's draws were exercised, not only the greedy path


def test_the_c_probability_is_the_numpy_one_to_the_last_bits():
    rng = np.random.default_rng(23)
    for _ in range(3000):
        u, s, c = _random_case(rng)
        numpy_p = float(min(1.0, thompson._W_PHI @ thompson.integrand_numpy(u, s, c)))
        assert abs(thompson._probability(u, s, c, thompson._GRID, thompson._W_PHI)
                   - numpy_p) <= TOL


def test_the_c_decision_takes_any_mask_and_refuses_an_empty_one(draws):
    policy = PolicySpec().policy()
    view, x, cost, _, seed = next(_posterior_cases(1, 3))
    k = len(view.arms)
    mask = np.arange(k) % 2 == 0
    ref, _ = _decide(policy, view, x, seed, cost, 1.0, mask)
    for same in (mask.tolist(), mask.astype(int), np.repeat(mask, 2)[::2]):
        ch, _ = _decide(policy, view, x, seed, cost, 1.0, same)
        assert (ch.index, ch.propensity) == (ref.index, ref.propensity)
        assert ch.ranking.tolist() == ref.ranking.tolist()
    rng = np.random.default_rng(seed)
    state = rng.bit_generator.state
    with pytest.raises(NoEligibleArm):
        policy.choose(view, x, rng, eligible=np.zeros(k, dtype=bool))
    assert rng.bit_generator.state == state  # refused before any draw
    with pytest.raises(ValueError):
        policy.choose(view, x, rng, eligible=np.ones(k + 1, dtype=bool))
