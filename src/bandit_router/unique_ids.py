"""Ids that are unique among every process's, cheaply: version-4 UUIDs made of a random 72-bit
prefix drawn once per process (again in a forked child) and a 48-bit counter; as a UUID string
(library-made decision ids) or as its 32 hex digits (request ids).

Unique, not unguessable: they name requests and library-made decisions, never a secret (the
service's decision ids are ``store/decision_ids.py``'s, API keys ``store/tenants.py``'s).
``str(uuid.uuid4())`` reads the kernel's random source and builds a ``UUID`` object for each
id: 2.5 µs of a decision and about a tenth of the request middleware's CPU (measured in
benchmarks/README.md), which this avoids.
"""

from __future__ import annotations

import itertools
import os
import secrets

_PREFIX = ""
_HEX_PREFIX = ""
_SEQ = itertools.count()


def _draw_prefix() -> None:
    global _PREFIX, _HEX_PREFIX, _SEQ
    h = secrets.token_hex(9)
    variant = "89ab"[secrets.randbelow(4)]
    _PREFIX = f"{h[:8]}-{h[8:12]}-4{h[12:15]}-{variant}{h[15:]}-"
    _HEX_PREFIX = _PREFIX.replace("-", "")
    _SEQ = itertools.count()


_draw_prefix()
os.register_at_fork(after_in_child=_draw_prefix)  # a forked worker must not repeat its parent's


def new_id() -> str:
    """A fresh version-4 UUID string, unique among every process's."""
    return f"{_PREFIX}{next(_SEQ) & 0xFFFF_FFFF_FFFF:012x}"


def new_hex_id() -> str:
    """The same, as 32 lower-case hex digits (a UUID's ``hex``)."""
    return f"{_HEX_PREFIX}{next(_SEQ) & 0xFFFF_FFFF_FFFF:012x}"
