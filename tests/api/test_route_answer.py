"""The answer to /v1/route is written without building a RouteOut (``RouteOut.json_of``): it
must be byte for byte the JSON of ``RouteOut.of``, whatever the decision holds."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from bandit_router.api.schemas import RouteOut
from bandit_router.routing import RouteDecision


def _decision(**changes) -> RouteDecision:
    models = {
        "model-a": {"predicted_reward": 0.512345, "uncertainty": 1e-07, "estimated_cost_usd":
                    3.2e-05, "learned_cost_usd": 0.0, "utility": -0.25, "score": 0.6,
                    "observations": 12.5, "eligible": True},
        "model-b": {"predicted_reward": 0.4, "uncertainty": 0.1, "estimated_cost_usd": 1e-4,
                    "learned_cost_usd": 2.5e-05, "utility": 0.3, "score": 0.31,
                    "observations": 0.0, "eligible": False,
                    "reason": "context window 1000 < 2048 tokens needed — «quoted» \"x\"",
                    "latency_p95_ms": 812.4},
    }
    d = RouteDecision(
        decision_id="d-1", model="model-a", fallbacks=["model-b"], propensity=0.731,
        policy="thompson", policy_version=3, cost_weight=0.0, features=np.zeros(4),
        candidates=["model-a", "model-b"], input_tokens=11, output_tokens=256,
        estimated_cost_usd=3.2e-05,
        explanation={"policy": "thompson", "cost_weight": np.float64(0.5),
                     "input_tokens_estimate": 11, "output_tokens_estimate": 256,
                     "explored": False, "models": models})
    return replace(d, **changes)


def _with(d: RouteDecision, **keys) -> RouteDecision:
    return replace(d, explanation={**d.explanation, **keys})


CASCADE = {"name": "cheap-first", "next": ["model-b"]}
CASES = {
    "plain": _decision(),
    "unlogged": _decision(logged=False),
    "rules, latency and budget after the models": _with(
        _decision(), rules=[{"rule": "eu-only", "effect": "deny"}],
        latency={"limit_ms": 500.0, "met": False, "note": "chose the fastest"},
        budget={"remaining_usd": 0.0, "exhausted": True}),
    "unlogged with notes": _with(_decision(logged=False), budget={"exhausted": False}),
    "a propensity of exactly one, as an int": _decision(propensity=1, estimated_cost_usd=0),
    "numpy numbers": _decision(propensity=np.float64(0.25), policy_version=np.int64(7)),
    "models first": replace(_decision(), explanation={"models": _decision().explanation[
        "models"], "policy": "thompson"}),
    "models alone": replace(_decision(), explanation={"models": {}}),
    "no models (another shape)": replace(_decision(), explanation={"policy": "x"}),
    "already marked unlogged": _with(_decision(logged=False), logged=False),
}


@pytest.mark.parametrize("cascade", [None, CASCADE])
@pytest.mark.parametrize("name", list(CASES))
def test_the_answer_is_the_json_of_route_out(name, cascade):
    d = CASES[name]
    out = RouteOut.of(d, cascade)
    expected = out.__pydantic_serializer__.to_json(out)
    got = RouteOut.json_of(d, cascade)
    assert got == expected
    assert json.loads(got)["explanation"] == json.loads(expected)["explanation"]


def test_the_per_model_numbers_are_serialised_once_per_decision():
    d = _decision()
    assert d.models_json is d.models_json  # cached on the decision
    assert json.loads(d.models_json) == d.explanation["models"]
