"""The proxy's HTTP client to the upstreams: one aiohttp session per process, kept-alive
connections, and failures reported as :class:`UpstreamError` with a short label.

aiohttp rather than httpx because the client is most of what a forwarded call costs: against
the loopback upstream of ``python -m benchmarks proxy``, httpx 0.28 spent 0.65 ms of CPU per
call alone and 1.06 ms at 32 concurrent calls (its pool checks every idle connection's
socket on each request), aiohttp 0.10 and 0.08 ms (measured 2026-12-01 on the 2-core machine
of benchmarks/README.md).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any, AsyncIterator, Mapping

import aiohttp

# Labels of failures before an answer came, as the attempt records and the failure metric
# name them (docs/proxy.md).
TIMEOUT, CONNECT_TIMEOUT, CONNECT_ERROR, READ_ERROR = (
    "timeout", "ConnectTimeout", "ConnectError", "ReadError")


class UpstreamError(Exception):
    """The upstream gave no (whole) answer: ``label`` says how (see the labels above)."""

    def __init__(self, label: str) -> None:
        super().__init__(label)
        self.label = label


def label_of(exc: BaseException) -> str:
    if isinstance(exc, UpstreamError):
        return exc.label
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return CONNECT_TIMEOUT
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return TIMEOUT
    if isinstance(exc, aiohttp.ClientConnectorError):
        return CONNECT_ERROR
    if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError,
                        aiohttp.ClientOSError)):
        return READ_ERROR
    return type(exc).__name__


FAILURES = (aiohttp.ClientError, TimeoutError, asyncio.TimeoutError, UpstreamError)


@dataclass
class Reply:
    """An upstream's answer: its status and headers, and either its whole body
    (``content``) or, for a 200 stream, its first bytes and the rest to come (``chunks``)."""

    status: int
    headers: Mapping[str, str]
    content: bytes = b""
    first: bytes = b""
    chunks: AsyncIterator[bytes] | None = None
    _response: aiohttp.ClientResponse | None = None

    async def next_chunk(self) -> bytes | None:
        """The next bytes of a stream, None at its end; raises UpstreamError when it breaks."""
        assert self.chunks is not None
        try:
            return await anext(self.chunks, None)
        except aiohttp.ClientError as exc:
            raise UpstreamError(label_of(exc)) from None

    def close(self) -> None:
        if self._response is not None:
            self._response.release() if self.chunks is None else self._response.close()


class Upstreams:
    """Sends chat completions to upstreams over one session (made on first use, on the
    running event loop)."""

    def __init__(self, *, connect_timeout_s: float, max_connections: int = 1000) -> None:
        self.connect_timeout_s = connect_timeout_s
        self.max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _client(self) -> aiohttp.ClientSession:
        # A session belongs to the loop that made it (a test client may run another).
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            self._loop = loop
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.max_connections, limit_per_host=0,
                                               ttl_dns_cache=300),
                # No cookie jar (an upstream's cookies are not the next caller's), no proxy
                # settings from the environment.
                cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=True, trust_env=False)
        return self._session

    async def post(self, url: str, headers: Mapping[str, str], body: bytes, *,
                   stream: bool, connect_timeout_s: float) -> Reply:
        """POST ``body``; a 200 stream returns after its first bytes, anything else after the
        whole body. The caller bounds the whole call (``anyio.fail_after``)."""
        response = await self._client().post(
            url, data=body, headers=headers, allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout_s,
                                          connect=connect_timeout_s))
        reply = Reply(response.status, response.headers, _response=response)
        try:
            if stream and response.status == 200:
                reply.chunks = response.content.iter_any()
                reply.first = await reply.next_chunk() or b""
            else:
                reply.content = await response.read()
        except BaseException:
            response.close()
            raise
        if reply.chunks is None:
            response.release()
        return reply

    async def post_json(self, url: str, doc: Any, timeout_s: float) -> tuple[int, Any]:
        """POST a JSON document; (status, the answer's JSON or None)."""
        async with self._client().post(url, json=doc, allow_redirects=False,
                                       timeout=aiohttp.ClientTimeout(total=timeout_s)) as r:
            raw = await r.read()
        try:
            return r.status, json.loads(raw)
        except ValueError:
            return r.status, None

    async def aclose(self) -> None:
        if self._session is not None and self._loop is asyncio.get_running_loop():
            await self._session.close()
