"""The report says when the estimates cannot be trusted, and only then."""

from __future__ import annotations

import numpy as np

from bandit_router.ope import Candidate, LoggedBandit, action_probabilities, evaluate_policy
from bandit_router.ope.meta import EvaluationConfig
from bandit_router.ope.report import render, to_dict

ARMS = ("a", "b", "c")


def _logged(rng, n, probs):
    actions = rng.choice(3, size=n, p=probs)
    return LoggedBandit(arms=ARMS, actions=actions, rewards=rng.random(n),
                        costs=np.full(n, 0.001), propensities=np.asarray(probs)[actions],
                        eligible=np.ones((n, 3), bool))


def _evaluate(data, candidate):
    pi = action_probabilities(candidate, data)
    return evaluate_policy(data, pi, np.random.default_rng(0), candidate=candidate.describe(),
                           config=EvaluationConfig(n_boot=200))


def test_a_candidate_the_logging_policy_almost_never_tried_is_flagged():
    rng = np.random.default_rng(0)
    data = _logged(rng, 1000, [0.96, 0.02, 0.02])
    ev = _evaluate(data, Candidate.parse("fixed:c"))
    assert not ev.trustworthy
    assert ev.overlap.ess < 50
    text = render(ev)
    assert "WARNING: low overlap, these estimates cannot be trusted" in text
    assert "effective sample size" in text
    out = to_dict(ev)
    assert out["trustworthy"] is False and out["warnings"]


def test_a_candidate_well_covered_by_the_logs_is_not_flagged():
    rng = np.random.default_rng(1)
    data = _logged(rng, 2000, [1 / 3] * 3)
    ev = _evaluate(data, Candidate("uniform"))
    assert ev.trustworthy and to_dict(ev)["trustworthy"] is True
    assert "overlap is adequate" in render(ev)
    assert ev.overlap.ess_ratio == 1.0


def test_wrong_propensities_show_up_as_a_mean_weight_far_from_one():
    rng = np.random.default_rng(2)
    data = _logged(rng, 3000, [1 / 3] * 3)
    halved = LoggedBandit(**{**data.__dict__, "propensities": data.propensities / 2})
    ev = _evaluate(halved, Candidate("uniform"))
    assert not ev.trustworthy
    assert any("mean importance weight" in w for w in ev.overlap.warnings)
