"""Empirical Bayes: the prior precision of each block of context weights, learned from the data.

A fixed prior precision is tuned to one world: tight context weights help where a model's
reward barely depends on the request (they add no spread until the data supports them), and
hurt where it does. Here the precision of each block of weights (the structure signals
``[1:head]``, the hashed words and caller signals ``[head:]``; the bias keeps its fixed
prior, which carries the optimism that explores untried models) is chosen at every refit by
maximising the marginal likelihood of the arm's rewards, with MacKay's fixed point
(MacKay, "Bayesian interpolation", Neural Computation 4(3), 1992; Bishop, *Pattern
Recognition and Machine Learning*, §3.5.2):

    γ_B = Σ_{j∈B} (1 − λ_j [P⁻¹]_jj),   λ_B ← σ² γ_B / ‖m_B − μ₀_B‖²,

where ``P = A + diag(λ)``, ``m`` the posterior mean and ``σ²`` the noise variance (the prior
is ``θ ~ N(μ₀, σ²/λ)``, so ``λ`` is a precision relative to the noise). ``γ_B`` counts the
weights of block ``B`` that the data determine. When the data say little about a block, ``m_B``
stays near ``μ₀_B`` and ``λ_B`` grows: the block's weights add little spread; once the rewards
depend on it, ``λ_B`` falls and the weights are free to fit.

``shared``: one precision per block for every arm (the sums of γ and of the scaled squared
deviations over arms), so that arms with few observations borrow the strength of the others;
otherwise each arm has its own. Everything is computed from the sufficient statistics, so a
refit stays O(K·d³) whatever the history. The fixed point starts where the previous refit
left it (kept in the statistics, ``SufficientStats.precision``), so that after the first
refits one or two steps reach it (at most 8). With ``Prior.noise_dof`` the noise estimate
counts the residual degrees of freedom ``n − γ`` (MacKay's noise update): without it, the
in-sample residuals of the looser fit understate the noise of new requests, and the change
detector, which standardises by that noise, raised false alarms (3.2 per 20,000 stationary
requests; none with it, simulations/README.md "Learned priors").
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import lapack

LOWEST, HIGHEST = 1e-2, 1e6  # bounds of a learned precision (relative to the noise)


def blocks(d: int, head: int, bias: bool, lead: int = 0) -> list[slice]:
    """The blocks whose precision is learned: the structure signals and the rest, and the bias
    when ``bias`` (its prior is then a belief, the pooled fit, not optimism). With ``lead``
    > 0 (``Prior.family_directions``; the weights of the subspace prior's ``z`` coordinates,
    leading principal directions first) the first ``lead`` weights after ``head`` are a block
    of their own."""
    head = min(head, d)
    split = min(head + max(int(lead), 0), d)
    out = [slice(0, 1)] if bias and d else []
    return out + [b for b in (slice(1, head), slice(head, split), slice(split, d))
                  if b.stop > b.start]


def noise_variance(A, b, s, n, theta, prior, rinv=None, lam=None) -> np.ndarray:
    """Each arm's residual variance, shrunk towards the prior guess (``noise_pseudo_count``).
    With ``prior.noise_dof`` (and the factor ``rinv`` at precisions ``lam``), the residuals
    count ``n − γ`` degrees of freedom, γ = Σ_j (1 − λ_j [P⁻¹]_jj) the number of weights the
    data determine (MacKay's noise update): in-sample residuals of a loosely regularised fit
    understate the noise of new requests."""
    # Weighted residual sum of squares Σ w (r − θᵀx)² = s − 2θᵀb + θᵀAθ.
    ssr = s - 2 * np.einsum("kd,kd->k", theta, b) + np.einsum("ki,kij,kj->k", theta, A, theta)
    ssr = np.maximum(ssr, 0.0)
    a0 = prior.noise_pseudo_count
    dof = n
    if prior.noise_dof and rinv is not None:
        gamma = (1.0 - lam * np.einsum("kij,kij->kj", rinv, rinv)).sum(axis=1)
        dof = np.maximum(n - gamma, 0.0)
    noise_var = (a0 * prior.noise_var + ssr) / np.maximum(a0 + dof, 1e-12)
    return np.clip(noise_var, 1e-4, max(prior.noise_var, 1e-4) * 4)


def factor(A: np.ndarray, lam: np.ndarray, rhs: np.ndarray):
    """``R⁻¹`` with ``A + diag(lam) = R Rᵀ`` (Cholesky, per arm), and the posterior mean
    ``(A + diag λ)⁻¹ rhs``. LAPACK's triangular inverse is ~3× cheaper than a general one."""
    k, d = rhs.shape
    rinv = np.empty((k, d, d))
    diag = np.arange(d)
    for i in range(k):
        P = A[i].copy()
        P[diag, diag] += lam[i]
        R, info = lapack.dpotrf(P, lower=1, clean=1)
        if info == 0:
            rinv[i], info = lapack.dtrtri(R, lower=1)
        if info != 0:
            raise np.linalg.LinAlgError("the posterior precision is not positive definite")
    theta = np.einsum("kij,kj->ki", np.swapaxes(rinv, 1, 2), np.einsum("kij,kj->ki", rinv, rhs))
    return rinv, theta


def precisions(A: np.ndarray, b: np.ndarray, s: np.ndarray, n: np.ndarray, mu0: np.ndarray,
               lam: np.ndarray, start: np.ndarray, prior, *, shared: bool,
               iterations: int = 8, tol: float = 0.05) -> np.ndarray:
    """Per-arm prior precisions ``(K, d)``: ``lam`` (the fixed prior) with each learned block
    replaced by the evidence maximiser, found by at most ``iterations`` fixed-point steps from
    ``start`` (NaN: from ``lam``). Arms without observations keep ``lam``."""
    k, d = b.shape
    fixed = np.array(lam, dtype=np.float64)
    lam = np.where(np.isfinite(start), start, fixed)
    seen = n > 0
    lam[~seen] = fixed[~seen]
    if not seen.any():
        return lam
    lead = getattr(prior, "family_directions", 0)
    parts = blocks(d, prior.head, bias=prior.pool > 0, lead=lead)
    # the family block learned per arm (Prior.family_evidence "arm"), the others as ``shared``
    own = (slice(min(prior.head, d), min(prior.head + lead, d))
           if lead and getattr(prior, "family_evidence", "shared") == "arm" else None)
    for _ in range(iterations):
        rinv, theta = factor(A, lam, b + lam * mu0)
        sig2 = noise_variance(A, b, s, n, theta, prior, rinv, lam)
        pinv_diag = np.einsum("kij,kij->kj", rinv, rinv)  # [P⁻¹]_jj = Σ_i (R⁻¹)_ij²
        dev2 = (theta - mu0) ** 2
        new = lam.copy()
        for blk in parts:
            gamma = np.maximum((1.0 - lam[:, blk] * pinv_diag[:, blk]).sum(axis=1), 0.0)
            spread = dev2[:, blk].sum(axis=1) / sig2  # ‖m_B − μ₀_B‖² / σ²
            if shared and blk != own:
                value = gamma[seen].sum() / max(spread[seen].sum(), 1e-300)
                new[seen, blk] = np.clip(value, LOWEST, HIGHEST)
            else:
                value = gamma[seen] / np.maximum(spread[seen], 1e-300)
                new[seen, blk] = np.clip(value, LOWEST, HIGHEST)[:, None]
        change = np.max(np.abs(np.log(new[seen]) - np.log(lam[seen])))
        lam = new
        if change < tol:
            break
    return lam
