"""Compact storage of feature vectors: only the non-zero entries, as (uint32 index, float32 value).

A typical prompt's vector has a few dozen non-zeros out of ~280 entries, so this is about
a fifth of the dense size, and it rebuilds the vector bit-for-bit up to float32 rounding.
"""

from __future__ import annotations

import struct
from typing import Sequence

import numpy as np

_HEADER = np.dtype([("dim", "<u4"), ("nnz", "<u4")])
_PACK_HEADER = struct.Struct("<II").pack  # the _HEADER bytes, without a structured array
_U4, _F4 = np.dtype("<u4"), np.dtype("<f4")


def encode_features(x: np.ndarray) -> bytes:
    """``x`` (1-D) as stored. Once per decision, so in few calls: ``ndarray.nonzero`` (not
    ``np.flatnonzero``'s Python wrapper) and one join (5.8 → 2.5 µs at d = 153, same bytes)."""
    idx = x.nonzero()[0]
    return b"".join((_PACK_HEADER(len(x), len(idx)), idx.astype(_U4).tobytes(),
                     x[idx].astype(_F4).tobytes()))


def feature_dim(blob: bytes) -> int:
    return int(np.frombuffer(blob, dtype=_HEADER, count=1)[0]["dim"])


def decode_features(blob: bytes) -> np.ndarray:
    head = np.frombuffer(blob, dtype=_HEADER, count=1)[0]
    dim, nnz = int(head["dim"]), int(head["nnz"])
    off = _HEADER.itemsize
    idx = np.frombuffer(blob, dtype="<u4", count=nnz, offset=off)
    vals = np.frombuffer(blob, dtype="<f4", count=nnz, offset=off + 4 * nnz)
    x = np.zeros(dim, dtype=np.float64)
    x[idx] = vals
    return x


def decode_many(blobs: Sequence[bytes], dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Decode many blobs at once into an ``(n, dim)`` float64 matrix, without a Python loop
    per row. Returns ``(X, ok)``; rows whose blob has another ``dim`` are left zero, ``ok``
    False. Equal to stacking :func:`decode_features` of each blob."""
    n = len(blobs)
    X = np.zeros((n, dim), dtype=np.float64)
    if n == 0:
        return X, np.zeros(0, dtype=bool)
    # Every part of a blob is a multiple of 4 bytes, so the concatenation is a uint32 array
    # and each blob starts at a whole word.
    words = np.frombuffer(b"".join(blobs), dtype="<u4")
    n_words = np.fromiter(map(len, blobs), dtype=np.int64, count=n) // 4
    starts = np.zeros(n, dtype=np.int64)
    np.cumsum(n_words[:-1], out=starts[1:])
    nnz = words[starts + 1].astype(np.int64)
    ok = (words[starts] == dim) & (n_words == 2 + 2 * nnz)
    nnz = np.where(ok, nnz, 0)
    rows = np.repeat(np.arange(n), nnz)
    within = np.arange(int(nnz.sum())) - np.repeat(np.cumsum(nnz) - nnz, nnz)
    idx_pos = np.repeat(starts + 2, nnz) + within
    X[rows, words[idx_pos]] = words.view("<f4")[idx_pos + np.repeat(nnz, nnz)]
    return X, ok
