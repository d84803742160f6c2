"""Who is calling: the operator key from the settings, or a stored key, with an in-process
cache so that a request costs no database round trip.

A key the database confirmed is served from the cache for ``posterior_poll_s`` (the interval
within which every process also picks up a new posterior); after that it is looked up again.
So a revoked key is refused at once on the process that revoked it (:meth:`KeyAuth.forget`)
and, on every other process and replica, within that interval. While the database is
unreachable, a key it confirmed within ``auth_cache_ttl_s`` keeps working.

A key in use is confirmed again in the background once its entry is half that old, so its
requests do not wait for the database when the entry would expire: without it, every request
arriving during the look-up waited for it, every ``posterior_poll_s`` for each key, and for
as long as a busy database took to answer (benchmarks/README.md, 2026-12-06, "the open-loop
tail").

Requests that miss the cache for the same key at the same moment share one look-up (a burst
of a new key's first requests, or of every key's right after a start, is one query per key,
not one per request: a start under load had each of them queue for one of the reader's
connections, and some gave up after its 5 s wait).
"""

from __future__ import annotations

import asyncio
import hmac
import threading
import time
from collections import OrderedDict

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from bandit_router.config import Settings
from bandit_router.store import tenants as store
from bandit_router.store.db import AsyncReader
from bandit_router.store.tenants import Principal
from bandit_router.store.writer import _transient

_MAX_KEYS = 10_000


class KeyAuth:
    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        url = settings.database_url.get_secret_value()
        # Postgres: the lookup runs on the event loop (one prepared statement, no thread hop).
        self.reader = (AsyncReader(url, pooler=settings.database_pooler)
                       if engine.dialect.name == "postgresql" else None)
        self._cache: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._refreshing: dict[str, asyncio.Task] = {}  # background look-ups, by key digest
        self._pending: dict[str, asyncio.Task] = {}  # look-ups requests wait for, by key digest
        self._revocations = 0  # a look-up begun before a revocation here must not cache

    async def authenticate(self, secret: str) -> Principal | None:
        """The caller's principal, or None for an unknown or revoked key."""
        configured = self.settings.admin_key
        if configured is not None and hmac.compare_digest(
                secret.encode(), configured.get_secret_value().encode()):
            return Principal(role="admin", tenant_id=None, key_id=None)
        digest = store.hash_key(secret)
        with self._lock:
            hit = self._cache.get(digest)
        age = None if hit is None else time.monotonic() - hit[1]
        poll_s = self.settings.posterior_poll_s
        if age is not None and age <= poll_s:
            if age > poll_s / 2 and digest not in self._refreshing:
                self._refreshing[digest] = asyncio.get_running_loop().create_task(
                    self._refresh(digest))
            return hit[0]
        revocations = self._revocations
        try:
            row = await self._shared_lookup(digest)
        except DBAPIError as exc:
            # The database is unreachable: a key it confirmed lately, or the error again.
            if _transient(exc) and age is not None and age <= self.settings.auth_cache_ttl_s:
                return hit[0]
            raise
        principal = store.principal_of(row, digest)
        return self._remember(digest, principal) if revocations == self._revocations else principal

    async def _refresh(self, digest: str) -> None:
        """Confirm a cached key again (or drop it, if it was revoked meanwhile)."""
        revocations = self._revocations
        try:
            row = await self._lookup(digest)
        except Exception:  # noqa: BLE001 - unreachable: the entry expires as it would have
            return  # and the next request after that looks the key up (and sees the error)
        finally:
            self._refreshing.pop(digest, None)
        if revocations == self._revocations:
            self._remember(digest, store.principal_of(row, digest))

    async def _shared_lookup(self, digest: str) -> store.KeyRow | None:
        """:meth:`_lookup`, one per key at a time on this event loop: a request that misses the
        cache while another's look-up of the same key is under way waits for that one. Shielded:
        a waiting request that is cancelled (its client went away) does not cancel it for the
        others."""
        loop = asyncio.get_running_loop()
        task = self._pending.get(digest)
        if task is None or task.done() or task.get_loop() is not loop:
            task = loop.create_task(self._lookup(digest))
            self._pending[digest] = task
            task.add_done_callback(lambda t: self._settled(digest, t))
        return await asyncio.shield(task)

    def _settled(self, digest: str, task: asyncio.Task) -> None:
        if self._pending.get(digest) is task:
            del self._pending[digest]
        if not task.cancelled():
            task.exception()  # retrieved here too: every waiter may have gone (no warning)

    async def _lookup(self, digest: str) -> store.KeyRow | None:
        if self.reader is None:
            return await asyncio.to_thread(store.key_row, self.engine, digest)
        found = await self.reader.fetchone(store.KEY_SQL, (digest,))
        return store.KeyRow(*found) if found is not None else None

    def _remember(self, digest: str, principal: Principal | None) -> Principal | None:
        with self._lock:
            if principal is None:
                self._cache.pop(digest, None)
                return None
            self._cache[digest] = (principal, time.monotonic())
            self._cache.move_to_end(digest)
            if len(self._cache) > _MAX_KEYS:
                self._cache.popitem(last=False)
        return principal

    def forget(self, key_id: str) -> None:
        """Stop accepting key ``key_id`` from the cache (it was revoked through this process)."""
        with self._lock:
            self._revocations += 1
            for digest in [d for d, (p, _) in self._cache.items() if p.key_id == key_id]:
                del self._cache[digest]
