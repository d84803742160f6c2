"""The stored form of a feature vector: a header (dim, nnz), the non-zero indices (uint32),
their values (float32), little-endian; read back as the vector up to float32 rounding."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from bandit_router.store.codec import decode_features, decode_many, encode_features


def _by_definition(x: np.ndarray) -> bytes:
    idx = [i for i, v in enumerate(x.tolist()) if v != 0]
    return (struct.pack("<II", len(x), len(idx)) + struct.pack(f"<{len(idx)}I", *idx)
            + struct.pack(f"<{len(idx)}f", *(float(np.float32(x[i])) for i in idx)))


@pytest.mark.parametrize("seed", range(20))
def test_a_vector_is_stored_as_defined_and_read_back(seed):
    rng = np.random.default_rng(seed)
    d = int(rng.integers(1, 400))
    x = rng.normal(size=d) * rng.choice([1e-6, 1.0, 1e6], size=d)
    x[rng.random(d) < rng.random()] = 0.0
    blob = encode_features(x)
    assert blob == _by_definition(x)
    assert np.array_equal(decode_features(blob), x.astype(np.float32).astype(np.float64))
    X, ok = decode_many([blob, blob], d)
    assert ok.all() and np.array_equal(X[1], decode_features(blob))


@pytest.mark.parametrize("x", [np.zeros(153), np.ones(3), np.array([0.0, -0.0, 2.5])])
def test_empty_full_and_signed_zero_vectors(x):
    blob = encode_features(x)
    assert blob == _by_definition(x)
    assert np.array_equal(decode_features(blob), x)
