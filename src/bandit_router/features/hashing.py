"""Vectorised, process-independent hashing of word n-grams.

Python's built-in ``hash`` is salted per process, so two replicas would disagree about
which bucket a word falls into. Here every token's hash is a polynomial rolling hash of
its UTF-8 bytes modulo 2**64, computed for all tokens at once with numpy prefix sums,
then passed through the splitmix64 finaliser. The result depends only on the bytes.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np

_BASE = np.uint64(0x100000001B3)  # odd, so it has an inverse modulo 2**64
_BASE_INV = np.uint64(pow(int(_BASE), -1, 2**64))
_BIGRAM_SALT = np.uint64(0x9E3779B97F4A7C15)

# A byte belongs to a word when it is an ASCII letter or digit, or part of a
# multi-byte UTF-8 sequence (letters of other scripts).
_WORD_BYTE = np.zeros(256, dtype=bool)
for _c in b"abcdefghijklmnopqrstuvwxyz0123456789_":
    _WORD_BYTE[_c] = True
_WORD_BYTE[128:] = True

_pow_cache: dict[str, np.ndarray] = {
    "pow": np.ones(1, dtype=np.uint64),
    "inv": np.ones(1, dtype=np.uint64),
}


def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """BASE**i and BASE**-i (mod 2**64) for i < n, grown on demand and cached."""
    have = len(_pow_cache["pow"])
    if n > have:
        size = max(n, 2 * have, 4096)
        with np.errstate(over="ignore"):
            p = np.empty(size, dtype=np.uint64)
            q = np.empty(size, dtype=np.uint64)
            p[0] = q[0] = 1
            for i in range(1, size):  # one-off, amortised over all later calls
                p[i] = p[i - 1] * _BASE
                q[i] = q[i - 1] * _BASE_INV
        _pow_cache["pow"], _pow_cache["inv"] = p, q
    return _pow_cache["pow"][:n], _pow_cache["inv"][:n]


def splitmix64(h: np.ndarray) -> np.ndarray:
    """Avalanche finaliser (Steele et al., 2014) so that low bits are usable as buckets.

    Array arithmetic on unsigned integers wraps modulo 2**64 without a warning, which is
    what the hash wants (no ``np.errstate`` needed: it would cost more than the mixing)."""
    h = h ^ (h >> _S30)
    h *= _M1
    h ^= h >> _S27
    h *= _M2
    return h ^ (h >> _S31)


_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def token_hashes(data: bytes) -> np.ndarray:
    """64-bit hashes of the word tokens of already lower-cased UTF-8 ``data``, in order."""
    if not data:
        return np.empty(0, dtype=np.uint64)
    b = np.frombuffer(data, dtype=np.uint8)
    n = len(b)
    padded = np.zeros(n + 2, dtype=np.int8)
    padded[1:-1] = _WORD_BYTE[b]
    # Word boundaries alternate start, end, start, end, ... along the padded mask.
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    if len(edges) == 0:
        return np.empty(0, dtype=np.uint64)
    starts, ends = edges[0::2], edges[1::2]
    pw, inv = _powers(n)
    prefix = np.empty(n + 1, dtype=np.uint64)
    prefix[0] = 0
    np.cumsum((b + np.uint64(1)) * pw, out=prefix[1:])
    raw = (prefix[ends] - prefix[starts]) * inv[starts]
    # Mix in the length so that "ab" and "ab\0" style collisions cannot happen.
    raw ^= (ends - starts).astype(np.uint64)
    return splitmix64(raw)


def ngram_hashes(tokens: np.ndarray, max_n: int) -> np.ndarray:
    """Hashes of all 1..max_n-grams given the unigram hashes ``tokens``."""
    out = [tokens]
    prev = tokens
    for n in range(2, max_n + 1):
        if len(tokens) < n:
            break
        prev = splitmix64(prev[:-1] * _BIGRAM_SALT + tokens[n - 1 :])
        out.append(prev)
    return np.concatenate(out) if len(out) > 1 else tokens


@lru_cache(maxsize=4096)
def stable_hash(text: str) -> int:
    """Process-independent 64-bit hash of a short string (names of caller features)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")
