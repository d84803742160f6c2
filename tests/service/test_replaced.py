"""``tenancy.replaced`` makes what ``dataclasses.replace`` makes, more cheaply for a plain
dataclass such as ``RouteRequest`` (copied once per routed request), and is
``dataclasses.replace`` itself for any other."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import pytest

from bandit_router.routing import RouteRequest
from bandit_router.routing import tenancy
from bandit_router.routing.tenancy import Budget, TenantState, replaced


def _requests():
    yield RouteRequest(prompt="hi")
    yield RouteRequest(prompt="x" * 50, features={"a": 1.0}, candidates=("m1", "m2"),
                       expected_output_tokens=7, input_tokens=3, cost_weight=0.5,
                       max_latency_ms=250.0, budget_remaining_usd=1.25, on_exhausted="reject",
                       budget_retry_after_s=3.0, tenant_id="acme", metadata={"k": [1, 2]})


@pytest.mark.parametrize("changes", [{}, {"tenant_id": "t"}, {"tenant_id": None},
                                     {"max_latency_ms": 10.0, "cost_weight": None,
                                      "tenant_id": "other"}])
def test_a_route_request_is_replaced_as_dataclasses_replace_does(changes):
    for request in _requests():
        before = dict(vars(request))
        made, expected = replaced(request, **changes), dataclasses.replace(request, **changes)
        assert type(made) is RouteRequest
        assert made == expected and vars(made) == vars(expected)
        assert made is not request and vars(request) == before  # the original is untouched
        with pytest.raises(dataclasses.FrozenInstanceError):
            made.prompt = "changed"  # still frozen
    # ... by the copy, not by dataclasses.replace
    assert tenancy._PLAIN[RouteRequest] == len(dataclasses.fields(RouteRequest))


def test_a_tenant_applies_its_limits_to_a_request():
    tenant = TenantState("acme", "Acme", 300.0, Budget("month", 10.0, "cheapest"),
                         cost_weight=0.25)
    made = tenant.request(RouteRequest(prompt="hi", max_latency_ms=500.0))
    assert (made.max_latency_ms, made.cost_weight, made.tenant_id) == (300.0, 0.25, "acme")
    own = tenant.request(RouteRequest(prompt="hi", max_latency_ms=100.0, cost_weight=2.0))
    assert (own.max_latency_ms, own.cost_weight) == (100.0, 2.0)


@dataclass
class _PostInit:
    a: int
    doubled: int = 0

    def __post_init__(self) -> None:
        self.doubled = 2 * self.a


@dataclass
class _NotInit:
    a: int
    b: int = field(default=5, init=False)


@dataclass(frozen=True)
class _Slots:
    __slots__ = ("a",)
    a: int


@dataclass
class _Plain:
    a: int
    b: list = field(default_factory=list)


def test_other_dataclasses_are_replaced_by_dataclasses_replace():
    assert replaced(_PostInit(1), a=4) == _PostInit(4)  # __post_init__ ran: doubled == 8
    assert replaced(_PostInit(1), a=4).doubled == 8
    with pytest.raises(ValueError):  # as dataclasses.replace: init=False fields refused
        replaced(_NotInit(1), b=2)
    assert replaced(_NotInit(1), a=2) == dataclasses.replace(_NotInit(1), a=2)
    assert replaced(_Slots(1), a=3) == _Slots(3)
    plain = _Plain(1)
    plain.extra = "not a field"  # attributes beyond the fields: not copied, as replace
    assert not hasattr(replaced(plain, a=2), "extra")
    assert vars(replaced(_Plain(1, [1]), a=2)) == {"a": 2, "b": [1]}
    with pytest.raises(TypeError):
        replaced(object(), a=1)
