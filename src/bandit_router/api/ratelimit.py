"""Per-key token buckets: ``rate_limit_per_s`` requests per second with bursts of
``rate_limit_burst``. Per process: with N replicas a key may make N times the rate."""

from __future__ import annotations

import threading
import time

from fastapi import HTTPException

from bandit_router.http_errors import retry_after


class RateLimiter:
    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.rate = rate_per_s
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}  # key → (tokens, last refill)
        self._lock = threading.Lock()

    def take(self, key: str, now: float | None = None) -> float:
        """Spend one token; returns 0 when allowed, else the seconds until one is available."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > 100_000:  # forget idle keys rather than grow without bound
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 60}
            return (1.0 - tokens) / self.rate

    def enforce(self, key: str) -> None:
        wait = self.take(key)
        if wait > 0:
            raise HTTPException(
                429, f"rate limit of {self.rate:g} requests/s (burst {self.burst:g}) for this key "
                     "exceeded; retry after the Retry-After seconds",
                headers={"Retry-After": retry_after(wait)})
