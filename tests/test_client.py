"""bandit_router.client against a real running app, and its retries against scripted servers."""

from __future__ import annotations

import asyncio
import time
from typing import Iterator

import pytest

from bandit_router.api.app import create_app
from bandit_router.client import (
    AsyncBanditRouterClient,
    BanditRouterClient,
    BanditRouterError,
    ConflictError,
    FeedbackResult,
    NotFoundError,
    RouteResult,
    UnavailableError,
)
from tests.conftest import TWO_MODELS
from tests.proxy.servers import Recorder, ServerThread

OPERATOR_KEY = "client-tests-operator-key-77d1"


@pytest.fixture
def app_url(make_service, pg_url) -> Iterator[str]:
    svc = make_service(pg_url, TWO_MODELS, admin_key=OPERATOR_KEY)
    server = ServerThread(create_app(service=svc)).start()
    yield server.url
    server.stop()


@pytest.fixture
def br(app_url) -> Iterator[BanditRouterClient]:
    with BanditRouterClient(app_url, api_key=OPERATOR_KEY) as client:
        yield client


@pytest.fixture
def scripted() -> Iterator[tuple[Recorder, str]]:
    recorder = Recorder(reply={"decision_id": "d1", "status": "recorded", "feedback_id": 7})
    server = ServerThread(recorder.app()).start()
    yield recorder, server.url
    server.stop()


def test_route_then_feedback_with_typed_results(br):
    d = br.route("Write a haiku about routers", expected_output_tokens=50)
    assert isinstance(d, RouteResult) and d.model in {"model-a", "model-b"}
    assert d.fallbacks == [m for m in ("model-a", "model-b") if m != d.model]
    first = br.feedback(d.decision_id, reward=0.7, latency_ms=120.0)
    assert isinstance(first, FeedbackResult) and first.created
    assert br.feedback(d.decision_id, reward=0.7, latency_ms=120.0).created is False
    with pytest.raises(ConflictError, match="write-once") as info:
        br.feedback(d.decision_id, reward=0.1)
    assert info.value.status_code == 409


def test_models_are_listed_registered_and_retired(br):
    assert [m.id for m in br.list_models()] == ["model-a", "model-b"]
    m = br.put_model("local/llama", input_price_per_mtok=0, output_price_per_mtok=0,
                     context_window=8192, tags=["cheap"], base_url="http://127.0.0.1:1/v1")
    assert (m.id, m.tags, m.context_window, m.observations) == ("local/llama", ["cheap"], 8192, 0)
    assert "local/llama" in [m.id for m in br.list_models()]
    br.delete_model("local/llama")
    assert "local/llama" not in [m.id for m in br.list_models()]
    with pytest.raises(NotFoundError, match="not registered"):
        br.delete_model("local/llama")


def test_the_async_client_does_the_same(app_url):
    async def go() -> tuple[RouteResult, FeedbackResult]:
        async with AsyncBanditRouterClient(app_url, api_key=OPERATOR_KEY) as client:
            d = await client.route(messages=[{"role": "user", "content": "Sum 2 and 2"}])
            return d, await client.feedback(d.decision_id, reward=1.0)

    d, fb = asyncio.run(go())
    assert fb.created and fb.decision_id == d.decision_id


def test_feedback_is_retried_after_a_503_waiting_its_retry_after(scripted):
    recorder, url = scripted
    recorder.script = [(503, {"retry-after": "0.3"})]
    with BanditRouterClient(url, api_key="app-key-1") as client:
        assert client.feedback("d1", reward=1.0).feedback_id == 7
    first, second = recorder.seen
    assert second["at"] - first["at"] >= 0.3
    assert first["json"] == second["json"] == {"decision_id": "d1", "reward": 1.0}
    assert first["headers"]["authorization"] == "Bearer app-key-1"


def test_route_is_not_retried_unless_asked(scripted):
    recorder, url = scripted
    recorder.reply = {"decision_id": "d2", "model": "m", "fallbacks": [], "propensity": 1.0,
                      "policy_version": 1, "estimated_cost_usd": 0.0, "explanation": {}}
    recorder.script = [(503, {"retry-after": "0"})]
    with BanditRouterClient(url) as client:
        with pytest.raises(UnavailableError) as info:
            client.route("hi")
        assert info.value.retry_after_s == 0 and len(recorder.seen) == 1
        recorder.script = [(503, {"retry-after": "0"})]
        assert client.route("hi", retry_route=True).decision_id == "d2"
    assert len(recorder.seen) == 3


def test_retries_are_bounded_and_a_long_retry_after_is_not_waited_out(scripted):
    recorder, url = scripted
    recorder.status = 429
    with BanditRouterClient(url, max_retries=2, backoff_s=0.01) as client:
        with pytest.raises(BanditRouterError):
            client.list_models()
        assert len(recorder.seen) == 3  # one try and two retries
        recorder.script = [(503, {"retry-after": "120"})]
        t0 = time.monotonic()
        with pytest.raises(UnavailableError) as info:
            client.feedback("d1", reward=1)
        assert time.monotonic() - t0 < 1 and info.value.retry_after_s == 120


def test_an_unreachable_server_is_a_bandit_router_error(scripted):
    _, url = scripted
    with BanditRouterClient("http://127.0.0.1:9", max_retries=1, backoff_s=0.01) as client:
        with pytest.raises(BanditRouterError, match="ConnectError"):
            client.feedback("d1", reward=1)


def test_operators_manage_tenants_keys_and_budgets_against_the_real_app(app_url):
    with BanditRouterClient(app_url, api_key=OPERATOR_KEY) as op:
        tenant = op.create_tenant("acme", "Acme", p95_latency_ms=2000)
        assert (tenant.id, tenant.name, tenant.p95_latency_ms) == ("acme", "Acme", 2000)
        key = op.create_key("acme", name="backend")
        assert key.key.startswith("br_") and key.key not in repr(key) and key.tenant_id == "acme"
        tenant = op.set_budget("acme", period="day", limit_usd=5.0, on_exhausted="reject")
        assert (tenant.budget.period, tenant.budget.limit_usd, tenant.budget.on_exhausted) == (
            "day", 5.0, "reject")
        with pytest.raises(ConflictError):
            op.create_tenant("acme", "Again")
    with BanditRouterClient(app_url, api_key=key.key) as app:
        d = app.route("hello", expected_output_tokens=100)
        app.feedback(d.decision_id, reward=1.0, cost_usd=0.25)
        usage = app.usage("acme")
        assert usage.limit_usd == 5.0 and usage.spent_usd == pytest.approx(0.25)
        assert [m.decisions for m in usage.models] == [1]
    with BanditRouterClient(app_url, api_key=OPERATOR_KEY) as op:
        assert op.revoke_key(key.id) is None
    with BanditRouterClient(app_url, api_key=key.key, max_retries=0) as app:
        with pytest.raises(BanditRouterError, match="401"):
            app.route("hello")
