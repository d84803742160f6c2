"""A decision's prices and explanation in one C call each (routing/_explain.c) against the numpy
steps that define them (``router.NATIVE`` off): the same prices bit for bit, and the same
per-model entries (keys, order, values to the last bit) on many random decisions, with
rules, eligibility masks, learned costs and cost weights; bad arguments refused with a
TypeError or ValueError, never a crash."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bandit_router.routing import RouteRequest, Router, router
from bandit_router.routing.catalog import ModelSpec
from bandit_router.features import DEFAULT_SPEC, featurizer_for
from bandit_router.policy import PolicySpec, Posterior, Prior, SufficientStats
from tests.features.test_scan import require_built


@pytest.fixture(autouse=True)
def _built():
    require_built(router.NATIVE, "routing/_explain.c")


def test_prices_are_those_of_the_numpy_expression_bit_for_bit(monkeypatch):
    rng = np.random.default_rng(3)
    prices = [(float(a), float(b)) for a, b in rng.lognormal(0, 2, (13, 2))]
    prices[0] = (0.0, 0.0)
    specs = [ModelSpec(id=f"m{i}", input_price_per_mtok=a, output_price_per_mtok=b,
                       context_window=8000) for i, (a, b) in enumerate(prices)]
    line = router._Lineup({s.id: s for s in specs}, tuple(s.id for s in specs), specs)
    counts = [(0, 0), (1, 1), (517, 256), (3, 10**6), (2**52, 7), (123457, 2**40)]
    counts += [tuple(int(v) for v in rng.integers(0, 10**7, 2)) for _ in range(200)]
    native = [line.cost_usd(n_in, n_out).tobytes() for n_in, n_out in counts]
    monkeypatch.setattr(router, "NATIVE", False)
    assert native == [line.cost_usd(n_in, n_out).tobytes() for n_in, n_out in counts]
    # and the definition itself: ModelSpec.cost_usd per model
    assert [float(v) for v in line.cost_usd(517, 256)] == [s.cost_usd(517, 256) for s in specs]


def _router(k: int, seed: int) -> Router:
    rng = np.random.default_rng(seed)
    fz = featurizer_for(DEFAULT_SPEC)
    arms = [f"model-{i}" for i in range(k)]
    stats = SufficientStats.empty(arms, fz.spec.dim)
    texts = [f"question {i}: " + " ".join(rng.choice(["sum", "code", "why", "list", "proof"],
                                                       12)) for i in range(60)]
    X = fz.transform_many(texts)
    for a in range(k):
        stats.update(np.full(len(X), a), X, rng.random(len(X)))
    models = [ModelSpec(id=m, input_price_per_mtok=float(rng.lognormal(0, 1.5)),
                        output_price_per_mtok=float(rng.lognormal(1, 1.5)),
                        context_window=int(rng.choice([600, 2000, 128_000], p=[0.3, 0.3, 0.4])))
              for m in arms]
    return Router(fz, PolicySpec(floor_mass=0.3).policy(), Posterior.fit(stats, Prior()),
                  models, seed=seed, cost_weight=float(rng.choice([0.0, 20.0])))


def _decisions(monkeypatch, native: bool) -> list[str]:
    monkeypatch.setattr(router, "NATIVE", native)
    out = []
    for seed, k in enumerate((1, 2, 5, 10, 17)):
        r = _router(k, seed)
        r.swapped(latency_p95={"model-0": 812.345})
        rng = np.random.default_rng(100 + seed)
        for i in range(40):
            ids = sorted(r.models)
            cands = None if i % 3 else tuple(rng.permutation(ids)[:max(1, k - 1)].tolist())
            req = RouteRequest(prompt="word " * int(rng.choice([3, 200, 700])) + str(i),
                               candidates=cands,
                               cost_weight=None if i % 2 else float(rng.choice([0, 5, 80])),
                               max_latency_ms=500.0 if i % 7 == 0 else None)
            try:
                d = r.decide(req, decision_id=f"d{i}")
            except Exception as exc:  # the same refusal either way
                out.append(f"{type(exc).__name__}: {exc}")
                continue
            out.append(json.dumps([d.model, d.fallbacks, d.propensity, d.estimated_cost_usd,
                                   d.explanation]))
    return out


def test_explanations_are_those_of_the_numpy_steps(monkeypatch):
    native = _decisions(monkeypatch, True)
    assert native == _decisions(monkeypatch, False)
    assert sum(o.startswith("[") for o in native) > 150  # mostly decisions, not refusals
    entries = [m for o in native if o.startswith("[") for m in json.loads(o)[4]["models"].values()]
    assert any(not e["eligible"] for e in entries) and any("reason" in e for e in entries)


def test_bad_arguments_are_refused_not_crashed():
    from bandit_router.routing._explain import cost, records

    good = np.ones(3)
    with pytest.raises(TypeError, match="float64"):
        cost(1, 2, good.astype(np.float32), good, np.empty(3))
    with pytest.raises(ValueError, match="length"):
        cost(1, 2, good, np.ones(2), np.empty(3))
    frozen = np.empty(3)
    frozen.flags.writeable = False
    with pytest.raises((TypeError, BufferError, ValueError)):
        cost(1, 2, good, good, frozen)
    ids, flags = ("a", "b", "c"), np.ones(3, dtype=bool)
    keys = ("x", "ok")
    assert records(ids, keys, (np.array([0.1234567, 2.0, -0.5]),), (1e6,), flags) == {
        "a": {"x": 0.123457, "ok": True}, "b": {"x": 2.0, "ok": True},
        "c": {"x": -0.5, "ok": True}}
    with pytest.raises(ValueError, match="len"):
        records(ids, ("x",), (good,), (1e6,), flags)
    with pytest.raises(ValueError, match="length"):
        records(ids, keys, (np.ones(2),), (1e6,), flags)
    with pytest.raises(TypeError):
        records(ids, keys, (good.astype(np.int64),), (1e6,), flags)
    with pytest.raises(TypeError):
        records(ids, keys, (good,), ("x",), flags)
    with pytest.raises(ValueError, match="flags"):
        records(ids, keys, (good,), (1e6,), np.ones(2, dtype=bool))
