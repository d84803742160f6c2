"""Per-model circuit breakers: a model that keeps failing is left out of routing for a while.

Closed → (``threshold`` consecutive failures) → open → (``cooldown_s`` later) → half-open,
where exactly one probe request may go to the model: its success closes the breaker, its
failure opens it for another cooldown. State lives in this process (each replica learns on
its own, which costs at most ``threshold`` failed requests per replica).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterable

log = logging.getLogger(__name__)


@dataclass
class _State:
    failures: int = 0
    open_until: float | None = None  # None while closed
    probing: bool = False


@dataclass(frozen=True)
class Ticket:
    """Permission for one attempt; hand it back to :meth:`CircuitBreakers.report`."""

    model: str
    probe: bool


class CircuitBreakers:
    def __init__(self, threshold: int, cooldown_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._states: dict[str, _State] = {}
        self._lock = threading.Lock()
        # (model, wall-clock start, end) of the newest cooldowns, for the status page.
        self.cooldowns: deque[tuple[str, float, float]] = deque(maxlen=1000)

    def _state(self, model: str) -> _State:
        return self._states.setdefault(model, _State())

    def _admits(self, st: _State) -> bool:
        if st.open_until is None:
            return True
        return self._clock() >= st.open_until and not st.probing

    def available(self, model: str) -> bool:
        """May the router choose this model now (closed, or cooled down and not being probed)?"""
        with self._lock:
            return self._admits(self._state(model))

    def acquire(self, model: str) -> Ticket | None:
        """Permission to send one request to ``model``; ``None`` while it is in cooldown."""
        with self._lock:
            st = self._state(model)
            if not self._admits(st):
                return None
            probe = st.open_until is not None
            st.probing = st.probing or probe
            return Ticket(model, probe)

    def report(self, ticket: Ticket, ok: bool | None) -> None:
        """The attempt's verdict: True answered, False failed, None no verdict (cancelled)."""
        with self._lock:
            st = self._state(ticket.model)
            if ticket.probe:
                st.probing = False
            if ok is None:
                return
            if ok:
                # A request that started before the breaker opened proves nothing now.
                if st.open_until is None or ticket.probe:
                    if st.open_until is not None:
                        log.info("circuit for model %s closed: probe succeeded", ticket.model)
                    st.failures, st.open_until = 0, None
                return
            st.failures += 1
            if ticket.probe or (st.open_until is None and st.failures >= self.threshold):
                st.open_until = self._clock() + self.cooldown_s
                now = time.time()
                self.cooldowns.append((ticket.model, now, now + self.cooldown_s))
                log.warning("circuit for model %s open for %.0f s after %d consecutive failures",
                            ticket.model, self.cooldown_s, st.failures)

    def retry_after(self, models: Iterable[str]) -> float:
        """Seconds until the first of ``models`` may be probed again (0 if one is available)."""
        now = self._clock()
        with self._lock:
            waits = [max(0.0, (st.open_until or now) - now)
                     for st in (self._state(m) for m in models)]
        return min(waits, default=0.0)

    def describe(self, model: str) -> dict:
        """State, seconds until a probe may go (open only) and consecutive failures."""
        with self._lock:
            st = self._state(model)
            failures = st.failures
        state = self.state(model)
        wait = round(self.retry_after([model]), 1) if state == "open" else None
        return {"state": state, "retry_in_s": wait, "consecutive_failures": failures}

    def state(self, model: str) -> str:
        """``closed``, ``open`` or ``half-open``, for logs, tests and operators."""
        with self._lock:
            st = self._state(model)
            if st.open_until is None:
                return "closed"
            return "half-open" if self._clock() >= st.open_until else "open"
