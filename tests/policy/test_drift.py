"""Change detection: a model whose reward shifts is noticed fast and its past forgotten;
a model that behaves as predicted is left alone."""

from __future__ import annotations

import numpy as np
import pytest

from bandit_router.policy import DriftDetector, Posterior, Prior, SufficientStats

ARMS = ["steady", "shifting"]
D = 4


def _contexts(rng, n):
    X = rng.standard_normal((n, D)) * 0.5
    X[:, 0] = 1.0
    return X


def _expected(X, arm, shifted=False):
    w = np.array([[0.6, 0.2, -0.1, 0.0], [0.8, 0.0, 0.1, -0.2]])[arm]
    return np.clip(X @ w - (0.35 if shifted else 0.0), 0.02, 0.98)


def _stream(detector, rng, steps, change_at=None, batch=100):
    """Both arms served alternately; Bernoulli rewards; refit every ``batch`` rows.

    Returns the stats, the steps at which alarms fired and the 'shifting' arm's fitted
    intercept after every refit."""
    stats = SufficientStats.empty(ARMS, D)
    post = Posterior.fit(stats, Prior())
    alarms, intercepts = [], []
    for start in range(0, steps, batch):
        t = np.arange(start, start + batch)
        arm = t % 2
        X = _contexts(rng, batch)
        shifted = (arm == 1) & (t >= (steps if change_at is None else change_at))
        p = np.array([_expected(X[i], arm[i], shifted[i]) for i in range(batch)])
        r = (rng.random(batch) < p).astype(float)
        if detector is not None:
            alarms += [(start + batch, m) for m in detector.scan(stats, post, arm, X, r)]
        stats.update(arm, X, r)
        post = Posterior.fit(stats, Prior())
        intercepts.append(post.theta[1] @ np.array([1.0, 0, 0, 0]))
    return stats, alarms, intercepts


@pytest.mark.parametrize("seed", range(3))
def test_no_alarm_while_every_model_behaves_as_predicted(seed):
    _, alarms, _ = _stream(DriftDetector(), np.random.default_rng(seed), 20_000)
    assert alarms == []


@pytest.mark.parametrize("seed", range(3))
def test_a_drop_in_reward_is_detected_and_only_that_model_forgets(seed):
    rng = np.random.default_rng(seed)
    stats, alarms, intercepts = _stream(DriftDetector(), rng, 8_000, change_at=6_000)
    # Only the shifting model; it may fire again while its estimate is still catching up.
    assert {m for _, m in alarms} == {"shifting"}
    step = alarms[0][0]
    # ≈ 0.35 / 0.45 ≈ 0.8 residual sds: about 16 / (0.8 − 0.5) ≈ 55 of its observations,
    # i.e. ~110 requests when it serves half of them; refits come every 100.
    assert 6_000 < step <= 6_500
    # The steady model kept everything; the shifting one was cut to `keep` and refilled.
    assert stats.n[0] == pytest.approx(4_000)
    assert stats.n[1] <= 100 + (8_000 - step + 100) / 2 + 1e-6  # + the alarm batch
    # Its intercept has moved most of the way to the new level (0.8 − 0.35 = 0.45) ...
    assert intercepts[-1] < 0.55

    # ... where without detection it is still dragged up by the 3,000 old rows.
    _, _, slow = _stream(None, np.random.default_rng(seed), 8_000, change_at=6_000)
    assert slow[-1] > 0.65


def test_a_rise_in_reward_is_detected_too():
    rng = np.random.default_rng(7)
    stats = SufficientStats.empty(["m"], D)
    X = _contexts(rng, 2_000)
    stats.update(np.zeros(2_000, int), X, (rng.random(2_000) < 0.3).astype(float))
    post = Posterior.fit(stats, Prior())
    X2 = _contexts(rng, 200)
    fired = DriftDetector().scan(stats, post, np.zeros(200, int), X2,
                                   (rng.random(200) < 0.8).astype(float))
    assert fired == ["m"]


def test_models_with_little_evidence_or_unknown_to_the_fitted_posterior_are_not_scanned():
    stats = SufficientStats.empty(["new"], D)
    post = Posterior.fit(stats, Prior())  # the prior predicts `optimism` = 1 everywhere
    X = np.tile([1.0, 0, 0, 0], (90, 1))
    det = DriftDetector(keep=100)
    stats.update(np.zeros(90, int), X, np.zeros(90))  # 90 ≤ keep observations
    assert det.scan(stats, post, np.zeros(90, int), X, np.zeros(90)) == []
    assert stats.n[0] == 90  # nothing forgotten
    np.testing.assert_array_equal(stats.cusum[0], [0.0, 0.0])  # and nothing accumulated
    # Evidence enough, but the posterior the decisions were made with never knew the model.
    grown = stats.with_arms(["new", "newer"])
    X200 = np.tile([1.0, 0, 0, 0], (200, 1))
    grown.update(np.ones(200, int), X200, np.ones(200))
    assert det.scan(grown, post, np.ones(200, int), X200, np.zeros(200)) == []
    assert grown.n[1] == 200


def test_detector_state_survives_serialisation_and_arm_changes():
    stats = SufficientStats.empty(["a", "b"], D)
    stats.cusum[1] = [3.5, 0.25]
    back = SufficientStats.from_bytes(stats.to_bytes())
    np.testing.assert_array_equal(back.cusum, stats.cusum)
    moved = back.with_arms(["b", "c"])
    np.testing.assert_array_equal(moved.cusum, [[3.5, 0.25], [0.0, 0.0]])


def test_posteriors_stored_before_drift_detection_still_load():
    import io
    import json

    stats = SufficientStats.empty(["a"], D)
    stats.update(np.zeros(50, int), np.tile([1.0, 0, 0, 0], (50, 1)), np.ones(50))
    post = Posterior.fit(stats, Prior(exploration=0.5))
    # The payload format of earlier versions: no cusum in the stats, no noise_sd.
    sbuf = io.BytesIO()
    np.savez(sbuf, A=stats.A, b=stats.b, s=stats.s, n=stats.n,
             meta=np.array(json.dumps({"arms": stats.arms, "dim": D, "t": 0.0})))
    pbuf = io.BytesIO()
    np.savez(pbuf, stats=np.frombuffer(sbuf.getvalue(), dtype=np.uint8), theta=post.theta,
             rinv=post.rinv, sigma=post.sigma,
             meta=np.array(json.dumps({"prior": post.prior.__dict__, "version": 3})))
    old = Posterior.from_bytes(pbuf.getvalue())
    np.testing.assert_allclose(old.noise_sd, post.noise_sd)
    np.testing.assert_array_equal(old.stats.cusum, np.zeros((1, 2)))
    assert DriftDetector().scan(old.stats, old, np.zeros(1, int), np.ones((1, D)),
                                  np.ones(1)) == []


def test_forget_scales_an_arm_down_to_keep_observations():
    stats = SufficientStats.empty(["a"], 2)
    stats.update(np.zeros(400, int), np.tile([1.0, 2.0], (400, 1)), np.full(400, 0.5))
    stats.forget(0, 100)
    assert stats.n[0] == pytest.approx(100)
    np.testing.assert_allclose(stats.A[0], [[100, 200], [200, 400]])
    np.testing.assert_allclose(stats.b[0], [50, 100])
    stats.forget(0, 500)  # never scales up
    assert stats.n[0] == pytest.approx(100)
