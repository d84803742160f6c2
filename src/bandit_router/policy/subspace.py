"""A prior that lets the words vary along the directions the traffic spans, and little elsewhere.

With ten models and a 128-dimensional word block, every model's prediction can move in 128
directions, and Thompson sampling pays to explore all of them although the requests seen
occupy far fewer (issue #17). Here the word block's prior precision is split along the
principal directions of the requests' word features (the eigenvectors ``Q`` of their second
moment ``Σ_k A_k`` restricted to the word block: the features only, no rewards): the leading
``r`` directions keep the block's precision ``λ``, the others get ``TIGHTER · λ``, so that
they add ``1/√TIGHTER`` of the spread until the data pull the weights there. In the word
block the prior precision is the matrix ``λ (U Uᵀ + TIGHTER (I − U Uᵀ))``, ``U = Q[:, :r]``.

``r`` is a fixed number of directions, or (``evidence``) the number of directions along which
an average model has more evidence than the prior holds: the eigenvalues of ``Σ_k A_k / K``
above ``λ`` (at least one), so it grows with the traffic.

Fitting with a non-diagonal prior is a change of coordinates: with ``z = T x``, where ``T`` is
the identity outside the word block and ``S Qᵀ`` inside it (``S = diag(1, …, 1, 1/√TIGHTER,
…)``), the prior on the weights of ``z`` is diagonal again, so the ordinary fit (and the
evidence of :mod:`bandit_router.policy.evidence`, whose single word-block precision is then
exactly the maximiser for this prior shape) runs on the transformed statistics ``T A Tᵀ``,
``T b``. The weights map back as ``θ = Tᵀ θ_z``; the factor of the precision in the original
coordinates, ``A + T⁻¹ diag(λ) T⁻ᵀ``, is factorised again so that a view keeps its
lower-triangular shape and a decision costs what it did. The basis is a function of the
statistics, so any refit of the same statistics finds the same one; the posterior stores it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import lapack

# How much tighter the prior is off the principal directions: their weights' spread is
# 1/√TIGHTER = 1/10 of the others', as the 10× tighter word prior (tail_precision=100) that
# helped on `families` (simulations/README.md, "Many models, warm start and the learner").
TIGHTER = 100.0
EVIDENCE = "evidence"


def parse(value: str) -> int | str | None:
    """``off`` → None, ``evidence`` → ``"evidence"``, a positive integer → that number."""
    text = str(value).strip().lower()
    if text in ("off", "none", "0", ""):
        return None
    if text == EVIDENCE:
        return EVIDENCE
    try:
        n = int(float(text))
    except ValueError:
        n = 0
    if n < 1 or n != float(text):
        raise ValueError("subspace must be 'off', 'evidence' or a positive number of directions")
    return n


@dataclass(frozen=True)
class Basis:
    """Principal directions of the word block ``[start, start + len(q))``: ``q`` (w, w)
    orthonormal columns by decreasing variance; the first ``r`` carry the prior's spread."""

    start: int
    q: np.ndarray
    r: int

    @property
    def stop(self) -> int:
        return self.start + self.q.shape[0]

    def scale(self) -> np.ndarray:
        """(w,) ``S``: 1 on the leading ``r`` coordinates, ``1/√TIGHTER`` on the others."""
        s = np.full(self.q.shape[0], 1.0 / np.sqrt(TIGHTER))
        s[: self.r] = 1.0
        return s

    def forward(self) -> np.ndarray:
        """(w, w) the word block of ``T``: ``S Qᵀ``."""
        return self.scale()[:, None] * self.q.T

    def to_z(self, A: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The statistics of ``z = T x``: ``T A Tᵀ`` (K, d, d) and ``T b`` (K, d)."""
        w, f = slice(self.start, self.stop), self.forward()
        Az, bz = A.copy(), b.copy()
        Az[:, w, :] = np.matmul(f, A[:, w, :])
        Az[:, :, w] = np.matmul(Az[:, :, w], f.T)
        bz[:, w] = b[:, w] @ f.T
        return Az, bz

    def from_z(self, theta_z: np.ndarray) -> np.ndarray:
        """Weights of ``x`` from weights of ``z``: ``Tᵀ θ_z``."""
        w = slice(self.start, self.stop)
        theta = theta_z.copy()
        theta[:, w] = theta_z[:, w] @ self.forward()
        return theta

    def back(self, u: np.ndarray) -> np.ndarray:
        """Vectors of z coordinates as vectors of x: ``T⁻¹ u`` row by row (word block
        ``Q S⁻¹``), so that ``u uᵀ`` in z's precision is ``(T⁻¹u)(T⁻¹u)ᵀ`` in x's."""
        w = slice(self.start, self.stop)
        out = u.copy()
        out[:, w] = (u[:, w] / self.scale()) @ self.q.T
        return out

    def factor(self, A: np.ndarray, lam: np.ndarray) -> np.ndarray:
        """``R⁻¹`` (K, d, d) lower-triangular with ``A + T⁻¹ diag(lam) T⁻ᵀ = R Rᵀ``: the
        posterior precision in the original coordinates, ``lam`` the precisions of ``z``."""
        k, d = lam.shape
        w = slice(self.start, self.stop)
        inv = self.q / self.scale()[None, :]  # T⁻¹ on the word block: Q S⁻¹
        diag = np.arange(d)
        rinv = np.empty((k, d, d))
        for i in range(k):
            P = A[i].copy()
            P[diag, diag] += lam[i]
            P[w, w] += (inv * lam[i, w]) @ inv.T - np.diag(lam[i, w])
            R, info = lapack.dpotrf(P, lower=1, clean=1)
            if info == 0:
                rinv[i], info = lapack.dtrtri(R, lower=1)
            if info != 0:
                raise np.linalg.LinAlgError("the posterior precision is not positive definite")
        return rinv


def basis(A: np.ndarray, start: int, stop: int, mode: int | str, precision: float) -> Basis | None:
    """The word block's principal directions from the statistics' ``A`` (K, d, d), with ``r``
    directions (``mode`` a number) or as many as an average model has evidence for
    (``mode == "evidence"``: eigenvalues of ``Σ_k A_k / K`` above ``precision``, at least one).
    None while no request has been seen (the plain prior)."""
    k = A.shape[0]
    if k == 0 or stop <= start:
        return None
    m = A[:, start:stop, start:stop].sum(axis=0) / k
    if not np.any(m):
        return None
    values, vectors = np.linalg.eigh(m)  # ascending
    values, vectors = values[::-1], np.ascontiguousarray(vectors[:, ::-1])
    if mode == EVIDENCE:
        r = int(np.count_nonzero(values > precision))
    else:
        # never more loose directions than the traffic spans: the others are arbitrary
        r = min(int(mode), int(np.count_nonzero(values > 1e-9 * values[0])))
    return Basis(start=start, q=vectors, r=max(r, 1))
