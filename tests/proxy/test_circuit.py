"""The circuit breaker on its own, with a clock the test moves."""

from __future__ import annotations

from bandit_router.proxy.circuit import CircuitBreakers


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def fail(b: CircuitBreakers, model: str = "m") -> None:
    b.report(b.acquire(model), False)


def test_opens_after_the_threshold_of_consecutive_failures_only():
    b = CircuitBreakers(3, 10, Clock())
    fail(b), fail(b)
    b.report(b.acquire("m"), True)  # a success in between resets the count
    fail(b), fail(b)
    assert b.available("m")
    fail(b)
    assert not b.available("m") and b.acquire("m") is None
    assert b.available("other")


def test_after_the_cooldown_exactly_one_probe_and_its_success_closes():
    clock = Clock()
    b = CircuitBreakers(1, 10, clock)
    fail(b)
    clock.now += 9.9
    assert b.acquire("m") is None and b.retry_after(["m"]) > 0
    clock.now += 0.2
    probe = b.acquire("m")
    assert probe is not None and probe.probe
    assert b.acquire("m") is None and not b.available("m")  # one probe at a time
    b.report(probe, True)
    assert b.state("m") == "closed"
    assert b.acquire("m") is not None and b.acquire("m") is not None


def test_a_failed_probe_opens_for_another_cooldown():
    clock = Clock()
    b = CircuitBreakers(2, 10, clock)
    fail(b), fail(b)
    clock.now += 10
    fail(b)
    assert b.state("m") == "open" and b.retry_after(["m"]) == 10


def test_a_cancelled_probe_lets_the_next_request_probe():
    clock = Clock()
    b = CircuitBreakers(1, 10, clock)
    fail(b)
    clock.now += 10
    b.report(b.acquire("m"), None)
    assert b.acquire("m").probe


def test_a_success_that_started_before_the_breaker_opened_does_not_close_it():
    b = CircuitBreakers(1, 10, Clock())
    early = b.acquire("m")
    fail(b)
    b.report(early, True)
    assert b.state("m") == "open"
