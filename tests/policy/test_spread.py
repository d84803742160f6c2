"""The posterior spread read band by band equals the exact quadratic form, whatever the factor."""

import numpy as np
import pytest

from bandit_router.policy.posterior import ArmView


@pytest.mark.parametrize("d", [1, 7, 48, 49, 281, 300])
@pytest.mark.parametrize("shape", ["lower", "dense", "zero-tail"])
def test_the_spread_is_exact_for_lower_triangular_dense_and_partly_zero_factors(d, shape):
    rng = np.random.default_rng(d)
    k = 4
    rinv = rng.normal(size=(k, d, d)) / np.sqrt(d)
    if shape == "lower":
        rinv = np.tril(rinv)
    elif shape == "zero-tail":  # a factor whose last columns are zero for every arm
        rinv[:, :, d // 2:] = 0.0
    view = ArmView(arms=tuple("abcd"), theta=rng.normal(size=(k, d)), rinv=rinv,
                   sigma=np.array([0.5, 1.0, 2.0, 0.1]), n=np.zeros(k))
    for _ in range(5):
        x = rng.normal(size=d)
        mean, sd = view.predict(x)
        exact = view.sigma * np.linalg.norm(np.einsum("kcd,d->kc", rinv, x), axis=1)
        np.testing.assert_allclose(mean, view.theta @ x, rtol=1e-12)
        np.testing.assert_allclose(sd, exact, rtol=1e-4, atol=1e-7)


def test_an_all_zero_factor_has_no_spread():
    view = ArmView(arms=("a",), theta=np.ones((1, 3)), rinv=np.zeros((1, 3, 3)),
                   sigma=np.ones(1), n=np.zeros(1))
    assert view.predict(np.ones(3))[1].tolist() == [0.0]


def test_a_block_alone_on_the_diagonal_is_skipped_where_x_is_zero_and_read_where_it_is_not():
    """The caller features' block, when no caller has sent any, is its own band."""
    rng = np.random.default_rng(0)
    d, k = 40, 3
    rinv = np.tril(rng.normal(size=(k, d, d)))
    rinv[:, 30:, :30] = 0.0  # rows 30.. use only columns 30..
    view = ArmView(arms=("a", "b", "c"), theta=np.zeros((k, d)), rinv=rinv, sigma=np.ones(k),
                   n=np.zeros(k))
    for x in (np.r_[rng.normal(size=30), np.zeros(10)], np.r_[np.zeros(30), rng.normal(size=10)],
              rng.normal(size=d)):
        exact = np.linalg.norm(np.einsum("kcd,d->kc", rinv, x), axis=1)
        np.testing.assert_allclose(view.predict(x)[1], exact, rtol=1e-5)
    assert view.predict(np.zeros(d))[1].tolist() == [0.0, 0.0, 0.0]


def test_a_view_evicted_by_another_thread_between_look_up_and_reuse_is_still_served():
    """The sync thread builds views ahead while request threads read them: a key another
    thread evicts between the look-up and the move to the end must not raise."""
    from collections import OrderedDict

    from bandit_router.policy.posterior import Posterior, Prior

    class EvictedAfterGet(OrderedDict):
        def get(self, key, default=None):
            hit = super().get(key, default)
            self.pop(key, None)  # what a concurrent eviction does
            return hit

    post = Posterior.from_prior(["a", "b"], 5, Prior())
    first = post.view(("a", "b"))
    post._views = EvictedAfterGet(post._views)
    assert post.view(("a", "b")) is first
    for i in range(70):  # past the cache's bound, with the look-ups still evicting
        post.view(("a", "b", f"m{i}"))
    assert len(post._views) <= 64
