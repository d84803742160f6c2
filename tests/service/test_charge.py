"""The charge rule: what a decision costs its tenant once feedback is in (pure, no database)."""

from __future__ import annotations

import pytest

from bandit_router.routing.catalog import ModelSpec
from bandit_router.service.charge import charged
from bandit_router.store.decisions import Outcome
from bandit_router.store.writer import Charging

MODEL = ModelSpec(id="m", input_price_per_mtok=2.0, output_price_per_mtok=4.0,
                  context_window=1000)


def _c(outcome: Outcome, *, usage=None, trusted=False, model=MODEL) -> Charging:
    return Charging(estimated_cost_usd=0.01, input_tokens_est=1000, output_tokens_est=1000,
                    outcome=outcome, usage_cost_usd=usage, model=model, trusted=trusted)


def test_an_app_can_raise_its_charge_but_never_lower_it_below_what_was_measured():
    assert charged(_c(Outcome(reward=1.0))) == 0.01  # nothing reported: the estimate
    assert charged(_c(Outcome(reward=1.0, cost_usd=0.0))) == 0.01  # cost 0 cannot lift a budget
    assert charged(_c(Outcome(reward=1.0, cost_usd=0.05))) == 0.05
    assert charged(_c(Outcome(reward=1.0), usage=0.02)) == 0.02  # the proxy's measurement


def test_a_trusted_reporter_is_charged_what_it_reports():
    assert charged(_c(Outcome(reward=1.0, cost_usd=0.001), trusted=True)) == 0.001


def test_reported_tokens_are_priced_with_the_models_prices_the_estimate_filling_the_gaps():
    # 500 input tokens reported, output from the estimate (1000): 500·2 + 1000·4 per million.
    assert charged(_c(Outcome(reward=1.0, input_tokens=500), trusted=True)) == pytest.approx(
        0.005)
    assert charged(_c(Outcome(reward=1.0, input_tokens=500), trusted=True, model=None)) == 0.01
