"""Compact storage of feature vectors: only the non-zero entries, as (uint32 index, float32 value).

A typical prompt's vector has a few dozen non-zeros out of ~280 entries, so this is about
a fifth of the dense size, and it rebuilds the vector bit-for-bit up to float32 rounding.
"""

from __future__ import annotations

import numpy as np

_HEADER = np.dtype([("dim", "<u4"), ("nnz", "<u4")])


def encode_features(x: np.ndarray) -> bytes:
    idx = np.flatnonzero(x).astype("<u4")
    header = np.array([(len(x), len(idx))], dtype=_HEADER)
    return header.tobytes() + idx.tobytes() + x[idx].astype("<f4").tobytes()


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
