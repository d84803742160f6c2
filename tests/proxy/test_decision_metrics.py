"""bandit_router_decisions_total counts every decision: those of /v1/route and those the proxy
makes for /v1/chat/completions, as the status page does."""

from __future__ import annotations

import re

from tests.proxy.conftest import chat


def _decisions_metric(client) -> float:
    text = client.get("/metrics").text
    return sum(float(v) for v in re.findall(r'^bandit_router_decisions_total\{[^}]*\} (\S+)$',
                                            text, re.M))


def test_the_decisions_metric_counts_routes_and_proxied_calls_like_the_status_page(proxy):
    before = _decisions_metric(proxy)
    n_routes, n_proxied = 5, 3
    for i in range(n_routes):
        assert proxy.post("/v1/route", json={"prompt": f"question {i}"}).status_code == 200
    for i in range(n_proxied):
        assert chat(proxy, content=f"proxied {i}").status_code == 200
    assert _decisions_metric(proxy) - before == n_routes + n_proxied
    proxy.app.state.service.flush()
    assert proxy.get("/v1/status").json()["decisions"] == n_routes + n_proxied
