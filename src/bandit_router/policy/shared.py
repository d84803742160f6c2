"""A context predictor shared by all models: each model's context weights start at it.

Outcomes are correlated across models: a hard prompt is hard for all of them (benchmark
items behave so). A model sees only the requests routed to it, ~1/K of the feedback, so its
own context weights need hundreds of observations before its prediction moves with the
request's difficulty. Fitting the context weights on every model's feedback together (K×
the data) and using that fit as each model's *prior mean* for its context weights lets the
prediction move with difficulty early; the evidence step (:mod:`~bandit_router.policy.evidence`)
then learns how far the models deviate from it (the block precisions of the deviations).

The shared fit has one intercept per model, profiled out (the within-model estimator), so
the differences between the models' levels, and which requests were routed to which model,
do not leak into the shared weights. The bias keeps its optimistic prior: exploration of an
untried model is unchanged. From the per-model statistics ``A_k, b_k`` (bias feature at
index 0, always 1, so ``A_k[0, 0] = n_k``), with ``c_k = A_k[0, 1:]``:

    M = Σ_k (A_k[1:, 1:] − c_k c_kᵀ / n_k),   r = Σ_k (b_k[1:] − c_k b_k[0] / n_k),
    w = (M + diag λ)⁻¹ r.

Model ``k``'s prior mean is the fit *without its own statistics* (leave one out: ``M − M_k``,
``r − r_k``), so its own data are not counted twice; a model without data gets the fit of all.
The shared part is centred on the traffic: its bias entry is ``−wᵀx̄`` (``x̄`` the mean
request with feedback, ``Σ_k A_k[0] / Σ_k n_k``), so that at the mean request an untried model
is still expected to earn ``optimism`` (the shared fit moves the prediction with difficulty,
not the level; without it the optimism moved by −0.14 on ``families``).

``scale`` (variant 2) adds a loose prior direction along each model's shared vector: the
context weights are ``s · w_k + δ`` with ``s ~ N(1, SCALE_SD²)``, so a model may scale the
shared difficulty pattern by its own factor. Its prior precision ``diag λ − u uᵀ`` (Woodbury:
``u = Λ w / √(1/τ² + wᵀ Λ w)``, ``τ² = SCALE_SD² / σ²`` relative to the noise) is a rank-one
change; the block precisions are learned without it (on the diagonal prior) and it enters
the final factorisation. ``direction`` is the loose direction alone, without the shared prior
mean: the context weights' prior mean stays 0 and ``s ~ N(0, SCALE_SD²)``, so the shared
pattern is cheap to learn for each model but no model is pulled toward the others (with two
models ``mean`` and ``scale`` pull each toward the other's pattern, which is what routes).
Everything is a function of the sufficient statistics.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import cho_factor, cho_solve

MODES = ("off", "mean", "scale", "direction")
SCALE_SD = 1.0  # prior sd of a model's factor on the shared pattern (its mean is 1)


def parse(value: str) -> str:
    text = str(value).strip().lower()
    if text in ("0", "none", ""):
        text = "off"
    if text in ("1", "on"):
        text = "mean"
    if text not in MODES:
        raise ValueError(f"shared must be one of {', '.join(MODES)}")
    return text


def _parts(A: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each model's within-model statistics of the context weights: ``(K, d−1, d−1)`` and
    ``(K, d−1)``, zero for a model without data."""
    n = A[:, 0, 0]
    seen = n > 1e-9
    safe = np.where(seen, n, 1.0)
    c = A[:, 0, 1:] * seen[:, None]
    M = A[:, 1:, 1:] - np.einsum("ki,kj->kij", c / safe[:, None], c)
    r = b[:, 1:] - c * (b[:, 0] / safe)[:, None]
    M[~seen] = 0.0
    r[~seen] = 0.0
    return M, r


def weights(A: np.ndarray, b: np.ndarray, precision: np.ndarray,
            leave_out: bool = True) -> np.ndarray:
    """The shared context weights as prior means: ``(K, d)`` each model's fit of the others'
    statistics (``leave_out``) or ``(d,)`` the fit of all; on the bias ``−wᵀx̄`` (centred)."""
    k, d = b.shape
    if d < 2 or k == 0:
        return np.zeros((k, d)) if leave_out else np.zeros(d)
    M_k, r_k = _parts(A, b)
    M, r = M_k.sum(axis=0), r_k.sum(axis=0)
    diag = np.arange(d - 1)
    lam = np.asarray(precision, dtype=np.float64)[1:]

    def solve(m: np.ndarray, rhs: np.ndarray) -> np.ndarray:
        if not np.any(rhs):
            return np.zeros(d - 1)
        m = m.copy()
        m[diag, diag] += lam
        return cho_solve(cho_factor(m, lower=True, check_finite=False), rhs, check_finite=False)

    total = A[:, 0, 0].sum()
    xbar = A[:, 0, 1:].sum(axis=0) / total if total > 1e-9 else np.zeros(d - 1)
    if not leave_out:
        w = solve(M, r)
        return np.concatenate([[-w @ xbar], w])
    out = np.zeros((k, d))
    for i in range(k):
        out[i, 1:] = solve(M - M_k[i], r - r_k[i])
    out[:, 0] = -out[:, 1:] @ xbar
    return out


def loose_direction(w: np.ndarray, lam: np.ndarray, noise_var: float) -> np.ndarray:
    """``u`` (same shape as ``w``, rows per model) with prior precision ``diag λ − u uᵀ``: a
    loose direction along each row of ``w``'s context weights (``s ~ N(1, SCALE_SD²)`` on
    its scale; the bias entry is left out)."""
    tau2 = SCALE_SD ** 2 / noise_var
    w = w.copy()
    w[..., 0] = 0.0
    lw = lam * w
    quad = np.einsum("...d,...d->...", w, lw)
    return lw / np.sqrt(1.0 / tau2 + quad)[..., None]
