"""The runtime snapshot is made ready off the request path."""

from __future__ import annotations

import threading

from bandit_router.policy import posterior as posterior_module
from bandit_router.routing import RouteRequest
from tests.conftest import TWO_MODELS


def _count_scoring_arrays_built(monkeypatch) -> list[str]:
    """Names of the threads that built a posterior's scoring arrays (an ``ArmView``)."""
    built: list[str] = []
    original = posterior_module.ArmView.__post_init__

    def spy(self) -> None:
        built.append(threading.current_thread().name)
        original(self)

    monkeypatch.setattr(posterior_module.ArmView, "__post_init__", spy)
    return built


def test_a_new_posterior_is_ready_to_score_before_it_serves(make_service, pg_url, monkeypatch):
    """The first request after a new posterior does not build its scoring arrays (copying
    and converting K d×d factors) on the event loop: the sync that loads it already did."""
    svc = make_service(pg_url, TWO_MODELS)
    svc.route(RouteRequest(prompt="warm"), batched=True)
    built = _count_scoring_arrays_built(monkeypatch)
    before = svc.router.posterior.version
    sync = threading.Thread(target=svc.refit, kwargs={"force": True}, name="sync")
    sync.start()
    sync.join()
    assert svc.router.posterior.version > before
    built.clear()
    for prompt in ("what is 2 + 2?", "write a haiku"):
        svc.route(RouteRequest(prompt=prompt), batched=True)
    assert built == []


def test_a_new_line_up_is_ready_to_score_before_it_serves(make_service, pg_url, monkeypatch):
    svc = make_service(pg_url, TWO_MODELS[:1])
    svc.route(RouteRequest(prompt="warm"), batched=True)
    built = _count_scoring_arrays_built(monkeypatch)
    svc.register_models(TWO_MODELS[1:])
    assert len(svc.router.models) == 2
    built.clear()
    svc.route(RouteRequest(prompt="which model?"), batched=True)
    assert built == []
