"""Fixtures of the proxy tests: two fake upstreams on loopback and a bandit-router in front.

``model-a`` is free and ``model-b`` expensive, and the cost weight is huge with no
exploration floor, so the policy always tries ``model-a`` first and ``model-b`` is its
fallback: the tests can make either fail and know what the proxy should do.
"""

from __future__ import annotations

from typing import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from bandit_router.api.app import create_app
from bandit_router.routing.catalog import ModelSpec
from bandit_router.service import Service
from bandit_router.store.decisions import get_decision
from bandit_router.store.schema import DecisionRow, FeedbackRow, UsageRow
from bandit_router.store.usage import get_usage
from tests.proxy.servers import FakeUpstream, ServerThread

KEY_ENV = "BR_TEST_UPSTREAM_API_KEY"
SECRET = "sk-test-4f9c2d7e-never-log-me"
# Sent on every call: the operator key, for when the API requires one (unknown settings are
# ignored, so this also runs where authentication does not exist yet).
OPERATOR_KEY = "proxy-tests-operator-key-5b1e"
AUTH = {"Authorization": f"Bearer {OPERATOR_KEY}"}
PROXY_SETTINGS = dict(admin_key=OPERATOR_KEY, cost_weight=1e6, propensity_floor=0.0, circuit_failure_threshold=2,
                      circuit_cooldown_s=0.5, proxy_attempt_timeout_s=1.0, proxy_deadline_s=5.0)


def line_up(a: FakeUpstream, b: FakeUpstream) -> list[ModelSpec]:
    return [
        ModelSpec(id="model-a", input_price_per_mtok=0.0, output_price_per_mtok=0.0,
                  context_window=100_000, tags=("cheap", "general"), base_url=a.base_url,
                  api_key_env=KEY_ENV, upstream_model="upstream-a"),
        ModelSpec(id="model-b", input_price_per_mtok=10.0, output_price_per_mtok=30.0,
                  context_window=100_000, tags=("strong", "general"), base_url=b.base_url,
                  api_key_env=KEY_ENV, upstream_model="upstream-b"),
        ModelSpec(id="offline", input_price_per_mtok=0.0, output_price_per_mtok=0.0,
                  context_window=100_000, tags=("cheap",)),  # no base_url: route-only
    ]


@pytest.fixture
def upstreams() -> Iterator[tuple[FakeUpstream, FakeUpstream]]:
    pair = (FakeUpstream("a").start(), FakeUpstream("b").start())
    yield pair
    for u in pair:
        u.server.stop()


@pytest.fixture
def proxy(make_service, pg_url, upstreams, monkeypatch) -> Iterator[TestClient]:
    """The app on Postgres in front of upstreams a and b (in process, via TestClient)."""
    monkeypatch.setenv(KEY_ENV, SECRET)
    svc = make_service(pg_url, line_up(*upstreams), **PROXY_SETTINGS)
    with TestClient(create_app(service=svc), raise_server_exceptions=False,
                    headers=AUTH) as client:
        yield client


@pytest.fixture
def served_proxy(make_service, pg_url, upstreams, monkeypatch) -> Iterator[tuple[str, Service]]:
    """The same, served by uvicorn on a loopback port: (base URL, service)."""
    monkeypatch.setenv(KEY_ENV, SECRET)
    svc = make_service(pg_url, line_up(*upstreams), **PROXY_SETTINGS)
    server = ServerThread(create_app(service=svc)).start()
    yield server.url, svc
    server.stop()


def chat(client, model: str = "auto", content: str = "Say hi", **extra):
    return client.post("/v1/chat/completions",
                       json={"model": model, "messages": [{"role": "user", "content": content}],
                             **extra})


def service_of(client: TestClient) -> Service:
    return client.app.state.service


def usage(svc: Service, decision_id: str) -> UsageRow:
    with svc.sessions() as s:
        return get_usage(s, decision_id)


def decision(svc: Service, decision_id: str) -> DecisionRow:
    with svc.sessions() as s:
        return get_decision(s, decision_id)


def feedback(svc: Service, decision_id: str) -> FeedbackRow | None:
    with svc.sessions() as s:
        return s.query(FeedbackRow).filter_by(decision_id=decision_id).one_or_none()


@pytest.fixture
def wait_for() -> Callable:
    import time

    def wait(predicate: Callable[[], object], timeout: float = 5.0):
        end = time.monotonic() + timeout
        while True:
            try:
                value = predicate()
            except Exception:
                value = None
            if value:
                return value
            if time.monotonic() > end:
                raise AssertionError("condition not met in time")
            time.sleep(0.05)

    return wait
