"""The official ``openai`` package, pointed at bandit-router by its base URL only."""

from __future__ import annotations

import openai
import pytest

from tests.proxy.conftest import OPERATOR_KEY, usage


@pytest.fixture
def sdk(served_proxy) -> openai.OpenAI:
    url, _ = served_proxy
    return openai.OpenAI(base_url=f"{url}/v1", api_key=OPERATOR_KEY, max_retries=0, timeout=10)


def test_the_openai_client_gets_routed_answers_and_the_decision_headers(sdk, served_proxy):
    raw = sdk.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "Say hi"}])
    completion = raw.parse()
    assert completion.choices[0].message.content == "answer from a"
    assert completion.usage.completion_tokens == 4
    assert raw.headers["x-bandit-router-model"] == "model-a"
    assert usage(served_proxy[1], raw.headers["x-bandit-router-decision-id"]).status == "ok"


def test_the_openai_client_streams_through_the_proxy(sdk):
    chunks = list(sdk.chat.completions.create(
        model="group:strong", stream=True, messages=[{"role": "user", "content": "Count"}]))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "tok0 tok1 tok2 tok3"


def test_the_openai_client_raises_its_own_errors(sdk, upstreams):
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        sdk.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "x"}])
    upstreams[0].behaviour.cut_after = 1
    with pytest.raises(openai.APIError, match="answer is incomplete"):
        list(sdk.chat.completions.create(model="model-a", stream=True,
                                         messages=[{"role": "user", "content": "x"}]))
