"""The request a route body makes (``api.routes.route._request``, a copy of RouteRequest's
defaults) is the one ``RouteRequest(...)`` makes from it."""

from __future__ import annotations

from bandit_router.api.routes import route
from bandit_router.api.schemas import RouteIn
from bandit_router.routing import RouteRequest


def test_a_body_makes_the_request_routerequests_init_makes():
    bodies = [{"prompt": "hi"},
              {"prompt": "x", "features": {"tier": 2}, "candidates": ["a", "b"],
               "expected_output_tokens": 9, "input_tokens": 4, "max_latency_ms": 120.5,
               "metadata": {"team": "search", "n": [1, 2]}},
              {"messages": [{"role": "user", "content": "yo"}], "metadata": None}]
    for raw in bodies:
        body = RouteIn.model_validate(raw)
        candidates = tuple(body.candidates) if body.candidates else None
        made = route._request(body, "the prompt", candidates)
        expected = RouteRequest(prompt="the prompt", features=body.features,
                                candidates=candidates,
                                expected_output_tokens=body.expected_output_tokens,
                                input_tokens=body.input_tokens,
                                max_latency_ms=body.max_latency_ms, metadata=body.metadata)
        assert type(made) is RouteRequest and made == expected
        assert vars(made) == vars(expected)
        assert made.features is body.features  # the body's own, never the defaults'
    assert route._DEFAULTS == RouteRequest(prompt="")  # untouched by the copies
