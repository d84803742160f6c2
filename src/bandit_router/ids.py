"""Decision ids that carry their time: UUID version 7 (RFC 9562), milliseconds since the epoch
in the first 48 bits, then random bits. Time-ordered ids index well, and a lookup can tell from
an id alone when its decision was made (e.g. that it is older than the retention window)."""

from __future__ import annotations

import os
import time
import uuid
from datetime import datetime, timezone


def new_decision_id(now_ms: int | None = None) -> str:
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80 | rand & ((1 << 80) - 1)
    value = value & ~(0xF << 76) | (0x7 << 76)  # version 7
    value = value & ~(0x3 << 62) | (0x2 << 62)  # RFC 4122 variant
    return str(uuid.UUID(int=value))


def decision_time(decision_id: str) -> datetime | None:
    """When a version-7 id was issued; None for any other id (such as an older uuid4)."""
    try:
        u = uuid.UUID(decision_id)
    except (ValueError, AttributeError, TypeError):
        return None
    if u.version != 7:
        return None
    return datetime.fromtimestamp((u.int >> 80) / 1000.0, tz=timezone.utc)
