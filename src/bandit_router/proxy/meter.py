"""Token counts of an upstream answer: from its ``usage`` when it gives one, else estimated.

A stream is watched event by event as it passes through: the usage chunk that OpenAI-style
servers send last (when asked with ``stream_options.include_usage``) is read, and the
``data: [DONE]`` event tells a finished stream from one cut mid-way.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from bandit_router.features import estimate_tokens

_EVENT_END = re.compile(rb"\r?\n\r?\n")
_NULL_USAGE = re.compile(rb'"usage"\s*:\s*null')
# ``"usage": null`` with the comma that joins it to its neighbour, on either side.
_NULL_USAGE_MEMBER = re.compile(rb',\s*"usage"\s*:\s*null|"usage"\s*:\s*null\s*,?')


@dataclass(frozen=True)
class Tokens:
    input: int
    output: int
    source: str  # "upstream" (its usage) or "estimated"


def _parse(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return None


def _usage(obj: Any) -> tuple[int, int] | None:
    usage = obj.get("usage") if isinstance(obj, dict) else None
    if not isinstance(usage, dict):
        return None
    try:
        return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    except (TypeError, ValueError):
        return None


def tokens_of_body(content: bytes, input_estimate: int) -> Tokens:
    """Tokens of a non-streamed chat completion; estimated from its text without ``usage``."""
    doc = _parse(content)
    usage = _usage(doc)
    if usage is not None:
        return Tokens(*usage, "upstream")
    choices = doc.get("choices") if isinstance(doc, dict) else None
    text = "".join(str(((c or {}).get("message") or {}).get("content") or "")
                   for c in choices or [] if isinstance(c, dict))
    return Tokens(input_estimate, estimate_tokens(text) if text else 0, "estimated")


class StreamMeter:
    """Passes SSE bytes through whole events, noting usage, chunk count and completion.

    With ``drop_usage_chunk`` the usage-only chunk (empty ``choices``) is read but not
    forwarded: the proxy asked for it, the caller did not, and code that reads
    ``chunk.choices[0]`` would break on it. With ``drop_null_usage`` the ``"usage": null``
    that OpenAI puts in every other chunk of such a stream is taken out too, so the caller
    sees the stream it asked for.
    """

    def __init__(self, *, drop_usage_chunk: bool, drop_null_usage: bool = False) -> None:
        self.drop_usage_chunk = drop_usage_chunk
        self.drop_null_usage = drop_null_usage
        self.usage: tuple[int, int] | None = None
        self.chunks = 0
        self.done = False
        self._buffer = b""

    def feed(self, data: bytes) -> bytes:
        """Take upstream bytes; return the complete events to forward now."""
        self._buffer += data
        out = []
        start = 0
        for m in _EVENT_END.finditer(self._buffer):
            event = self._buffer[start:m.end()]
            start = m.end()
            kept = self._keep(event.rstrip(b"\r\n"))
            if kept is not None:
                out.append(kept + event[len(event.rstrip(b"\r\n")):])
        self._buffer = self._buffer[start:]
        return b"".join(out)

    def flush(self) -> bytes:
        """What is left at the end of the stream (an event without its blank line)."""
        rest, self._buffer = self._buffer, b""
        if not rest.strip():
            return rest
        kept = self._keep(rest.rstrip(b"\r\n"))
        return b"" if kept is None else kept + rest[len(rest.rstrip(b"\r\n")):]

    def _keep(self, event: bytes) -> bytes | None:
        """The event to forward (rewritten without a null usage), or None to drop it."""
        data = b"\n".join(line[5:].lstrip() for line in event.splitlines()
                          if line.startswith(b"data:"))
        if not data:
            return event  # comments, keep-alives, named events without data
        if data == b"[DONE]":
            self.done = True
            return event
        if b'"usage"' in data:
            if _NULL_USAGE.search(data):
                if self.drop_null_usage:
                    event = _NULL_USAGE_MEMBER.sub(b"", event)
            else:
                obj = _parse(data)
                usage = _usage(obj)
                if usage is not None:
                    self.usage = usage
                    if self.drop_usage_chunk and not obj.get("choices"):
                        return None
        self.chunks += 1
        return event

    def tokens(self, input_estimate: int) -> Tokens:
        """Counted so far: upstream usage if it came, else one token per content chunk (as
        OpenAI-compatible servers stream) and the prompt estimate."""
        if self.usage is not None:
            return Tokens(*self.usage, "upstream")
        return Tokens(input_estimate, self.chunks, "estimated")
