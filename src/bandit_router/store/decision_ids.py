"""Decision ids that say where and when they were made, so that any process can tell whether a
decision it cannot find may still be on its way to the database.

An id is 32 lower-case characters: ``OOOOOOOOOO K SSSSSSSSSS TTTTTTTTTTT``

- ``O`` (10 hex): the *origin*, drawn at random when a process's service starts;
- ``K``: ``w`` for a decision logged by the origin's background writer (it may be buffered
  for a while), ``s`` for one committed before it was answered;
- ``S`` (10 hex): the origin's sequence number. ``w`` numbers are drawn in the order the
  writer queues and commits them, so a logged ``w`` decision of an origin proves that every
  earlier ``w`` decision of that origin was committed or given up (the writer never
  reorders); fixed width, so the ids of one origin sort by it;
- ``T`` (11 hex): milliseconds since the epoch on the origin's clock.

Ids of older versions (UUIDs, with hyphens) do not parse and get the old treatment.
"""

from __future__ import annotations

import itertools
import re
import secrets
import threading
import time
from datetime import datetime, timezone
from typing import NamedTuple

BATCHED, COMMITTED = "w", "s"
_ID = re.compile(r"^([0-9a-f]{10})([ws])([0-9a-f]{10})([0-9a-f]{11})$")


class DecisionId(NamedTuple):
    origin: str
    kind: str  # BATCHED or COMMITTED
    seq: int
    created_s: float  # epoch seconds, on the origin's clock

    def later_of_origin(self) -> tuple[str, str]:
        """The range of ids, this one included, of the same origin's batched decisions
        routed at this one or after it: ``(lowest, highest)``, bounds included."""
        prefix = self.origin + self.kind
        return prefix + f"{self.seq:010x}" + "0" * 11, prefix + "f" * 21


def parse(decision_id: str) -> DecisionId | None:
    m = _ID.match(decision_id)
    if m is None:
        return None
    origin, kind, seq, ms = m.groups()
    return DecisionId(origin, kind, int(seq, 16), int(ms, 16) / 1000.0)


def decision_time(decision_id: str) -> datetime | None:
    """When the decision ``decision_id`` was made (UTC), or None for an id of an older
    version, which does not say."""
    parsed = parse(decision_id)
    return None if parsed is None else datetime.fromtimestamp(parsed.created_s, tz=timezone.utc)


class IdIssuer:
    """One process's (one service's) ids. ``batched`` ids must be drawn in the order their
    rows are queued for the writer: hold :attr:`lock` across drawing and queueing."""

    def __init__(self) -> None:
        self.origin = secrets.token_hex(5)
        self.lock = threading.Lock()
        self._seq = itertools.count(1)  # next() is atomic: no two threads draw one number

    def next(self, kind: str, now_ms: int | None = None) -> str:
        ms = int(time.time() * 1000) if now_ms is None else now_ms
        return f"{self.origin}{kind}{next(self._seq):010x}{ms:011x}"
