"""What one decision says about itself: its id, and the explanation's per-model entries."""

from __future__ import annotations

import uuid

import numpy as np

from bandit_router.routing import RouteRequest
from bandit_router.routing.catalog import ModelSpec
from bandit_router.routing.router import round_columns
from bandit_router.unique_ids import new_id
from tests.conftest import TWO_MODELS

EIGHT = ["predicted_reward", "uncertainty", "estimated_cost_usd", "learned_cost_usd",
         "utility", "score", "observations", "eligible"]


def test_a_decision_named_by_nobody_gets_a_fresh_version_4_uuid(make_service, sqlite_url):
    svc = make_service(sqlite_url, TWO_MODELS)
    ids = [svc.router.decide(RouteRequest(prompt=f"hello {i}")).decision_id for i in range(50)]
    ids += [new_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for i in ids:
        parsed = uuid.UUID(i)
        assert str(parsed) == i and parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_columns_rounded_together_equal_each_column_rounded_alone():
    rng = np.random.default_rng(7)
    k = 37
    cols = [rng.normal(0, 10.0 ** e, k) for e in (-7, -3, 0, 4)]
    cols.append(np.concatenate((np.arange(k - 5) + 0.0005, [0.0, -0.0015, 2.5e-4, 1e15, 7.0])))
    cols[0][:6] = [5e-7, -5e-7, 1.5e-6, 2.5e-6, 0.1234565, -0.0]
    scale = np.array([1e6] * (4 * k) + [1e3] * k)
    together = round_columns(np.concatenate(cols), scale)
    alone = np.concatenate([c.round(6) for c in cols[:4]] + [cols[4].round(3)])
    assert together.tobytes() == alone.tobytes()


def test_a_model_whose_window_is_too_small_is_explained_after_the_eight_numbers(
        make_service, sqlite_url):
    small = ModelSpec(id="model-s", input_price_per_mtok=0.5, output_price_per_mtok=1.0,
                      context_window=600)
    svc = make_service(sqlite_url, [*TWO_MODELS, small])
    svc.router.swapped(latency_p95={"model-a": 812.345})
    long = svc.router.decide(RouteRequest(prompt="word " * 600))
    entry = long.explanation["models"]["model-s"]
    assert list(entry) == [*EIGHT, "reason"]
    assert entry["eligible"] is False and entry["reason"].startswith("context window 600 <")
    assert list(long.explanation["models"]["model-a"]) == [*EIGHT, "latency_p95_ms"]
    assert long.explanation["models"]["model-a"]["latency_p95_ms"] == 812.3
    assert long.model != "model-s" and "model-s" not in long.fallbacks
    # A short prompt after it: every model fits again, nothing left over from the long one.
    short = svc.router.decide(RouteRequest(prompt="hi"))
    assert [m["eligible"] for m in short.explanation["models"].values()] == [True] * 3
    assert list(short.explanation["models"]["model-s"]) == EIGHT
    assert short.estimated_cost_usd == short.explanation["models"][short.model][
        "estimated_cost_usd"]
