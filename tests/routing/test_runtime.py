"""The router serves one frozen runtime snapshot: a change is a new snapshot swapped in whole,
so a request that took the old one never sees it change underneath it."""

from __future__ import annotations

import dataclasses

import pytest

from bandit_router.routing import RouteRequest
from bandit_router.routing.router import NothingFits
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


def test_a_new_price_or_window_is_used_from_the_next_decision_on(make_service, sqlite_url):
    """The router keeps each line-up's per-model arrays between decisions: a line-up changed
    through the API (a new price, a smaller window, the same ids) must still be read anew."""
    svc = make_service(sqlite_url, TWO_MODELS)
    req = RouteRequest(prompt="hello " * 50, candidates=("model-a",),
                       expected_output_tokens=1000)
    first = svc.router.decide(req)
    spec = svc.router.models["model-a"]
    cheaper = dataclasses.replace(spec, input_price_per_mtok=spec.input_price_per_mtok / 2,
                                  output_price_per_mtok=spec.output_price_per_mtok / 2)
    svc.router.swapped(models={**svc.router.models, "model-a": cheaper})
    second = svc.router.decide(req)
    assert second.estimated_cost_usd == pytest.approx(first.estimated_cost_usd / 2)
    assert second.explanation["models"]["model-a"]["estimated_cost_usd"] == \
        second.estimated_cost_usd
    small = dataclasses.replace(cheaper, context_window=100)
    svc.router.swapped(models={**svc.router.models, "model-a": small})
    with pytest.raises(NothingFits, match="largest: 100, model model-a"):
        svc.router.decide(req)


def test_candidates_given_as_a_list_route_as_the_same_tuple(make_service, sqlite_url):
    svc = make_service(sqlite_url, TWO_MODELS)
    as_list = svc.router.decide(RouteRequest(prompt="hi", candidates=["model-b", "model-a"]))
    as_tuple = svc.router.decide(RouteRequest(prompt="hi", candidates=("model-b", "model-a")))
    assert as_list.candidates == as_tuple.candidates == ["model-b", "model-a"]
