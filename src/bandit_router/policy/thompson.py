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

Where it was built, the same file also makes the whole default decision (untruncated, the
floor unbounded) in one call, :meth:`ThompsonSampling.choose` (issue 19, sixth session): the
sample, the argmax, the floor, the exploration draw, the propensity and the ranking, calling
the generator exactly as the numpy path does (the same random stream, choices and samples).
Its propensity integral sums the grid's terms in order where the numpy path takes BLAS's dot,
so the two differ in the last bits (≤ 1e-14, tests/policy/test_thompson_native.py);
:meth:`probabilities` sums in C too, so each logged propensity is exactly its entry.

With ``truncate`` (off by default; measured in simulations/README.md, "Rewards lie in
[0, 1]") each sample is drawn from the posterior truncated to the reward range, and the
propensity integrates the truncated laws (:func:`truncated_argmax_probability`, numpy only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy.special import log_ndtr, ndtr, ndtri_exp

from bandit_router.policy.base import Choice, LinearPolicy, NoEligibleArm


def _simpson(n: int, h: float) -> np.ndarray:
    """Simpson's rule weights for ``n`` (even) intervals of width ``h``."""
    w = np.ones(n + 1)
    w[1:-1:2], w[2:-1:2] = 4.0, 2.0
    return w * h / 3.0


_GRID = np.linspace(-8.0, 8.0, 161)
# Simpson weights × the standard normal density at each grid point.
_W_PHI = (_simpson(len(_GRID) - 1, _GRID[1] - _GRID[0]) * np.exp(-0.5 * _GRID**2)
          / np.sqrt(2 * np.pi))

try:
    from bandit_router.policy._argmax import choose as _choose
    from bandit_router.policy._argmax import probability as _probability
    from bandit_router.policy._argmax import product as _product
    from bandit_router.policy._argmax import set_direct as _set_direct
except ImportError:  # not built (no compiler), or a scipy without the exported ndtr
    _choose = _probability = _product = _set_direct = None
NATIVE = _product is not None  # a test sets it False to run the numpy path
# _argmax.c calls numpy's random_standard_*_fill with its own copy of numpy's bitgen_t (the
# layout of numpy 1.17 to 2.x). numpy is not pinned: a later major version keeps the generator
# methods (the same numbers, ~95 µs slower in a cold decision) rather than trust the copy.
DIRECT_DRAWS = int(np.__version__.split(".")[0]) <= 2
if _set_direct is not None and not DIRECT_DRAWS:
    _set_direct(False)


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


# Truncated Thompson sampling (issue #17, fifth session; ``truncate``): rewards lie in [0, 1],
# so each arm's sampled expected reward is drawn from its Gaussian posterior truncated to
# [0, 1] (in utility terms to [lo, lo + 1], lo = −λ·cost). Two guards keep every draw a
# continuous number that floats resolve (an argmax tie then has probability ~0, which is what
# makes the propensity below exact): the spread is at least _S_MIN, and a mean more than
# _Z_MAX spreads beyond a bound is taken at _Z_MAX spreads (the law is then a point mass at
# the bound to within s / _Z_MAX either way).
_S_MIN = 1e-6
_Z_MAX = 1e4
_EPS = 1e-13  # mass left out of each arm's effective support, per side
_SEGMENT = 32  # Simpson intervals per piece at least (each piece's integrand is smooth)
_TOTAL = 160  # … and about this many over the chosen arm's effective support


def _log_diff(la: np.ndarray, lb: np.ndarray) -> np.ndarray:
    """log(e^lb − e^la) for lb ≥ la (−inf where they are equal)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return lb + np.log(-np.expm1(la - lb))


def truncated_frame(utility: np.ndarray, sd: np.ndarray, lo: np.ndarray):
    """``(u, s, alpha, beta)``: the guarded means and spreads and each arm's bounds
    ``[lo, lo + 1]`` in its standard units."""
    s = np.maximum(sd, _S_MIN)
    u = np.clip(utility, lo - _Z_MAX * s, lo + 1.0 + _Z_MAX * s)
    return u, s, (lo - u) / s, (lo + 1.0 - u) / s


def truncated_quantile(alpha: np.ndarray, beta: np.ndarray, q) -> np.ndarray:
    """The ``q``-quantile of the standard normal truncated to ``[alpha, beta]``, by inverse CDF
    in log space: on the survival side where the interval lies in the upper tail (alpha > 0),
    on the lower side elsewhere, so neither tail loses its digits."""
    upper = alpha > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        # the lower side: log Φ(z) = log(Φ(α) + q (Φ(β) − Φ(α)))
        la, lb = log_ndtr(alpha), log_ndtr(beta)
        low = ndtri_exp(lb + np.log1p((1.0 - q) * np.expm1(la - lb)))
        # the survival side: log Φ(−z) = log(Φ(−β) + (1 − q)(Φ(−α) − Φ(−β)))
        sa, sb = log_ndtr(-alpha), log_ndtr(-beta)
        high = -ndtri_exp(sa + np.log1p(q * np.expm1(sb - sa)))
    return np.clip(np.where(upper, high, low), alpha, beta)


def _truncated_side(alpha: np.ndarray, beta: np.ndarray):
    """Per arm: whether its CDF is taken on the survival side (the interval in the upper tail),
    the log-CDF at the side's near end and the log of the interval's mass."""
    upper = alpha > 0
    near = np.where(upper, -beta, alpha)
    far = np.where(upper, -alpha, beta)
    log_near = log_ndtr(near)
    return upper, log_near, _log_diff(log_near, log_ndtr(far))


def truncated_cdf(z: np.ndarray, alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """P(Z ≤ z) for Z standard normal truncated to ``[alpha, beta]`` (broadcast over rows of
    ``z``: one arm a row), stable in both tails as :func:`truncated_quantile`."""
    upper, log_near, log_mass = _truncated_side(alpha, beta)
    z = np.clip(z, alpha, beta)
    d = _log_diff(log_near, log_ndtr(np.where(upper, -z, z))) - log_mass
    return np.clip(np.where(upper, -np.expm1(d), np.exp(d)), 0.0, 1.0)


def truncated_score(utility, sd, lo, rng: np.random.Generator) -> np.ndarray:
    """One draw per arm from its posterior truncated to ``[lo, lo + 1]`` (one uniform each)."""
    u, s, alpha, beta = truncated_frame(utility, sd, lo)
    return np.clip(u + s * truncated_quantile(alpha, beta, rng.random(len(u))), lo, lo + 1.0)


def truncated_argmax_probability(c: int, utility, sd, lo) -> float:
    """P(arm ``c``'s truncated draw is the largest) = ∫ f_c(v) Π_{j≠c} F_j(v) dv, f and F the
    truncated density and CDFs, by Simpson's rule in ``c``'s standard units over its effective
    support (all but 2·_EPS of its mass), cut into pieces at every other arm's effective
    support ends: each F_j is 0 below its piece, 1 above and smooth within, so every piece's
    integrand is smooth however narrow an arm's law (a spread → 0, a mean beyond a bound).
    Deterministic; accurate to about 1e-4 (tests/policy/test_truncated.py against sampled
    frequencies)."""
    u, s, alpha, beta = truncated_frame(utility, sd, lo)
    ends = truncated_quantile(alpha[:, None], beta[:, None], np.array([_EPS, 1.0 - _EPS]))
    others = np.arange(len(u)) != c
    # the ends of the others' supports in c's units; below the highest start the product is 0
    starts = (u[others] + s[others] * ends[others, 0] - u[c]) / s[c]
    stops = (u[others] + s[others] * ends[others, 1] - u[c]) / s[c]
    a, b = max(ends[c, 0], starts.max()), ends[c, 1]
    if a >= b:
        return 0.0
    inner = np.concatenate([starts, stops])
    cuts = np.unique(np.concatenate([[a, b], inner[(inner > a) & (inner < b)]]))
    width = np.diff(cuts)
    n = np.maximum(_SEGMENT, 2 * np.ceil(_TOTAL / 2 * width / (b - a))).astype(int)
    z = np.concatenate([np.linspace(cuts[i], cuts[i + 1], n[i] + 1) for i in range(len(n))])
    w = np.concatenate([_simpson(n[i], width[i] / n[i]) for i in range(len(n))])
    log_mass = _truncated_side(alpha[c:c + 1], beta[c:c + 1])[2][0]
    density = np.exp(-0.5 * z * z - 0.5 * np.log(2 * np.pi) - log_mass)
    v = u[c] + s[c] * z
    zj = (v[None, :] - u[others, None]) / s[others, None]
    product = truncated_cdf(zj, alpha[others, None], beta[others, None]).prod(axis=0)
    return float(min(1.0, max(0.0, w @ (density * product))))


@dataclass(frozen=True)
class ThompsonSampling(LinearPolicy):
    # Sample from each posterior truncated to the rewards' range [0, 1] (the functions above);
    # False: the untruncated Gaussian, as before issue #17's fifth session.
    truncate: bool = False
    name: ClassVar[str] = "thompson"

    def _bounds_used(self) -> bool:
        return self.truncate or super()._bounds_used()

    def choose(self, view, x, rng, cost=None, cost_weight=0.0, eligible=None) -> Choice:
        """:meth:`LinearPolicy.choose`; untruncated with the unbounded floor (the default) in
        one call of the C helper (``_argmax.c``'s ``choose``): the same generator calls, so
        the same random stream and the same choice, ranking and samples; the propensity is
        ``probabilities()``'s, both summing the integral in C (module doc)."""
        if not NATIVE or self.truncate or self.floor_bounded:
            return super().choose(view, x, rng, cost, cost_weight, eligible)
        mean, sd = view.predict(x)
        if cost is not None:
            cost = view.learned_cost(x, cost)
        utility = mean if cost is None or cost_weight == 0 else mean - cost_weight * cost
        k = len(utility)
        score, ranking = np.empty(k), np.empty(k, dtype=np.intp)
        args = (self.propensity_floor, self.floor_mass, self.floor_prune, _GRID, _W_PHI, score,
                ranking)
        try:
            made = _choose(utility, sd, eligible, rng, *args)
        except (TypeError, ValueError, BufferError):  # eligible not a contiguous bool array
            # (refused before anything is drawn; a wrong length is refused again)
            made = _choose(utility, sd, np.ascontiguousarray(eligible, dtype=bool), rng, *args)
        if made is None:
            raise NoEligibleArm("no candidate is eligible")
        index, propensity, explored, n = made
        return Choice(index, propensity, ranking if n == k else ranking[:n], mean, sd, utility,
                      score, explored, cost)

    def _score(self, utility, sd, rng, lo=None):
        if self.truncate:
            return truncated_score(utility, sd, lo, rng)
        return utility + sd * rng.standard_normal(len(utility))

    def _argmax_probability(self, chosen, utility, sd, elig_idx, lo=None):
        if len(utility) == 1:
            return 1.0
        # elig_idx is ascending (flatnonzero); ending at n − 1, it is 0 … n − 1.
        c = (chosen if elig_idx[-1] == len(elig_idx) - 1
             else int(np.searchsorted(elig_idx, chosen)))
        if self.truncate:
            return truncated_argmax_probability(c, utility, sd, lo)
        if NATIVE:  # the sum choose() logs (module doc)
            return _probability(utility, sd, c, _GRID, _W_PHI)
        s = np.maximum(sd, 1e-12)
        return float(min(1.0, _W_PHI @ integrand(utility, s, c)))
