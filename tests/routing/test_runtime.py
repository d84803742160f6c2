"""The router serves one frozen runtime snapshot: a change is a new snapshot swapped in whole,
so a request that took the old one never sees it change underneath it."""

from __future__ import annotations

import dataclasses

import pytest

from bandit_router.routing import RouteRequest
from bandit_router.routing.catalog import ModelSpec
from tests.conftest import TWO_MODELS


def test_a_change_swaps_in_a_new_snapshot_and_leaves_the_old_one_as_it_was(make_service,
                                                                           sqlite_url):
    svc = make_service(sqlite_url, TWO_MODELS)
    before = svc.router.runtime
    with pytest.raises(dataclasses.FrozenInstanceError):
        before.models = {}
    svc.register_models([ModelSpec(id="model-c", input_price_per_mtok=0.1,
                                   output_price_per_mtok=0.1, context_window=100_000)])
    svc.sync()
    after = svc.router.runtime
    assert after is not before
    assert "model-c" in after.models and "model-c" not in before.models
    # A decision made with the old snapshot still decides among the old line-up.
    old = svc.router.decide(RouteRequest(prompt="hello"), runtime=before)
    assert set(old.candidates) == {"model-a", "model-b"}
    assert set(svc.router.decide(RouteRequest(prompt="hello")).candidates) == {
        "model-a", "model-b", "model-c"}
