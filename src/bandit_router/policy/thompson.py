"""Linear Thompson sampling (Agrawal & Goyal, "Thompson Sampling for Contextual Bandits with
Linear Payoffs", ICML 2013).

Arms have independent Gaussian posteriors, so for one context the sampled rewards
``xᵀθ̃_k`` are independent normals ``N(xᵀm_k, σ_k² xᵀP_k⁻¹x)``: sampling K scalars is
exactly equivalent to sampling K full parameter vectors, and much cheaper.

The probability that arm ``c`` wins is the one-dimensional integral
``∫ φ(z) Π_{j≠c} Φ((μ_c + s_c z − μ_j)/s_j) dz``, computed by Simpson's rule on a fixed
grid: deterministic and accurate to about 1e-4, where estimating it by re-sampling would
add noise to every logged propensity.

The integrand (the product of K − 1 normal CDFs at 161 grid points) is computed by a small
C helper, ``_argmax.c``, when ``pip install`` could build it, else by numpy; the two give the
same bits (tests/policy/test_propensity_native.py). Why the C one (issue 19, K = 10,
benchmarks/README.md): the numpy path's ten array operations (broadcast, subtract, divide,
ndtr, product, each allocating a K × 161 array) cost about as much as its 1,610 ndtr calls;
the C loop makes them in place with scipy's own ndtr, and skips the factors that are exactly
1 and every factor once the product is exactly 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy.special import ndtr

from bandit_router.policy.base import LinearPolicy

_GRID = np.linspace(-8.0, 8.0, 161)
_W = np.ones_like(_GRID)
_W[1:-1:2], _W[2:-1:2] = 4.0, 2.0
# Simpson weights × the standard normal density at each grid point.
_W_PHI = _W * (_GRID[1] - _GRID[0]) / 3.0 * np.exp(-0.5 * _GRID**2) / np.sqrt(2 * np.pi)

try:
    from bandit_router.policy._argmax import product as _product
except ImportError:  # not built (no compiler), or a scipy without the exported ndtr
    _product = None
NATIVE = _product is not None


def integrand_numpy(utility: np.ndarray, s: np.ndarray, c: int) -> np.ndarray:
    """(G,) ``Π_{j≠c} Φ((u_c + s_c g − u_j) / s_j)`` at every grid point ``g``: the definition
    that the C helper matches."""
    values = utility[c] + s[c] * _GRID  # (G,)
    # Every arm's row, then the chosen arm's row set to Φ(∞) = 1 exactly: the product is
    # bit for bit the product over the others, with fewer array operations than
    # selecting them.
    z = (values[None, :] - utility[:, None]) / s[:, None]
    z[c] = np.inf
    # A product of CDFs in [0, 1] cannot overflow; where it underflows the integrand is
    # below 1e-300 and adds nothing. ndtr is ~4x cheaper than log_ndtr.
    return ndtr(z, out=z).prod(axis=0)


def integrand_native(utility: np.ndarray, s: np.ndarray, c: int) -> np.ndarray:
    """:func:`integrand_numpy` from the C helper (only where it was built)."""
    out = np.empty(len(_GRID))
    # The helper reads contiguous float64 buffers; both arguments already are (no copy).
    _product(np.ascontiguousarray(utility, dtype=np.float64),
             np.ascontiguousarray(s, dtype=np.float64), c, _GRID, out)
    return out


integrand = integrand_native if NATIVE else integrand_numpy


@dataclass(frozen=True)
class ThompsonSampling(LinearPolicy):
    name: ClassVar[str] = "thompson"

    def _score(self, utility, sd, rng):
        return utility + sd * rng.standard_normal(len(utility))

    def _argmax_probability(self, chosen, utility, sd, elig_idx):
        if len(utility) == 1:
            return 1.0
        # elig_idx is ascending (flatnonzero); ending at n − 1, it is 0 … n − 1.
        c = (chosen if elig_idx[-1] == len(elig_idx) - 1
             else int(np.searchsorted(elig_idx, chosen)))
        s = np.maximum(sd, 1e-12)
        return float(min(1.0, _W_PHI @ integrand(utility, s, c)))
