"""Bayesian linear regression of each model's reward on the request features.

With prior ``θ ~ N(μ₀, σ²/λ₀ · I)`` and discounted sufficient statistics ``A, b`` the
posterior is ``N(m, σ² P⁻¹)`` with ``P = λ₀I + A`` and ``m = P⁻¹(λ₀μ₀ + b)``
(Bishop, *Pattern Recognition and Machine Learning*, §3.3). The noise variance ``σ²`` of
each arm is estimated from its weighted residuals, shrunk towards a prior guess. By default
(``Prior.evidence``) the precisions of the structure and word blocks are learned from the
statistics at every fit (:mod:`bandit_router.policy.evidence`).

By default (``Prior.subspace``) the word block's prior is shaped by the principal directions
of the requests' word features (:mod:`bandit_router.policy.subspace`).

The prior mean puts ``optimism`` on the bias feature and zero elsewhere, so a model that
has never been tried is predicted to earn ``optimism`` everywhere and gets explored.

Each fit also solves every arm's cost regression on the same statistics
(:mod:`bandit_router.policy.cost`); a view carries its weights when any were learned.

Past 300 lines: the banded spread reader (:class:`_Spread`, issue 19's speed work) lives
beside the views it serves; it is the part to move out when this module grows again.

A decision's prediction (:meth:`ArmView.predict`: every arm's mean and spread) and learned
prices (:meth:`ArmView.learned_cost`) are each one call of a small C helper, ``_predict.c``,
when ``pip install`` could build it, else numpy (``predict_numpy``, ``learned_cost_numpy``:
the definitions). Why (issue 19, fifth session; benchmarks/README.md, "The decision's
prediction in one C call"): the numpy path is a dozen numpy calls, and a decision that comes
after ~15 ms away — the benchmark's p99, a quiet server's every decision — pays each call's
dispatch and loop code afresh. The two paths agree to float rounding, not bit for bit (the C
sums in its own order, not BLAS's): tests/policy/test_predict_native.py bounds the
difference, tests/policy/test_propensity_native.py pins each path's choices.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache

import numpy as np

from bandit_router.policy import cost as cost_model
from bandit_router.policy import evidence, shared, subspace
from bandit_router.policy.stats import SufficientStats

EVIDENCE = ("none", "arm", "shared")

try:
    from bandit_router.policy._predict import cost as _cost
    from bandit_router.policy._predict import predict as _predict
except ImportError:  # not built (no compiler): ArmView.predict_numpy, learned_cost_numpy
    _predict = _cost = None
NATIVE = _predict is not None  # a test sets it False to run the numpy path


@dataclass(frozen=True)
class Prior:
    """Prior of every arm's regression. ``exploration`` scales the posterior spread."""

    precision: float = 10.0
    optimism: float = 1.0
    noise_var: float = 0.25
    noise_pseudo_count: float = 4.0
    # 0.5 from 2026-11-25 until issue #17's seventh session (simulations/README.md, "The
    # floor's mass and the spread, again"): 0.35 was +0.0027 ± 0.0009 margin over 144 cold
    # runs on four many-model worlds, neutral warm and on MMLU over ten seeds, drift floor
    # kept.
    exploration: float = 0.35
    bias_precision: float | None = None  # precision of the bias weight; None: ``precision``
    # Precision of every weight from index ``head`` on (e.g. the hashed words after the bias
    # and the structure signals); None: ``precision``. High: they add spread only with data.
    tail_precision: float | None = None
    head: int = 9  # 1 + features.N_DENSE: the bias and the structure signals
    pool: float = 0.0  # 0: prior mean at ``optimism``; > 0: at the pooled fit of all models
    # Precision of the structure and word blocks learned by evidence at every refit
    # (:mod:`bandit_router.policy.evidence`): "none" (fixed), "arm" (each model its own) or
    # "shared" (one per block for all models); the fixed values above are where it starts.
    evidence: str = "shared"
    noise_dof: float = 1.0  # 1: the noise estimate counts n − γ residual degrees of freedom
    # Issue #17 (simulations/README.md, "second session"): the decision's spread in the
    # directions from ``head`` on (words, callers) is scaled by this, the mean untouched: the
    # spread is computed on x with that block times ``tail_exploration``. 1: as before.
    tail_exploration: float = 1.0
    # None: every model's bias starts at ``optimism``. q in [0, 1]: at the q-quantile of the
    # mean rewards observed so far of the models with data (empirical Bayes; ``optimism``
    # while none has any), so an untried model is expected to earn what the q-th model does.
    optimism_quantile: float | None = None
    # Issue #17, third session (:mod:`bandit_router.policy.subspace`): "off"; a number r: the
    # word block's prior spread lies along the r principal directions of the requests' word
    # features, 1/10 of it elsewhere; "evidence": r grows with the data (the default since
    # 2026-12-06: no loss beyond noise on four many-model worlds cold and warm, MMLU warm
    # +0.007–0.009 APGR, drift floor kept; simulations/README.md, "The words' principal
    # directions"). ``words``: the word block's length from ``head`` (None: all from ``head``).
    subspace: str = "evidence"
    words: int | None = None
    # Issue #17, fourth session (:mod:`bandit_router.policy.shared`): "off"; "mean": every
    # model's prior mean for its context weights (not the bias) is the within-model ridge fit
    # of the other models' statistics pooled, so a prediction moves with the request's
    # difficulty before the model's own data say so; "scale": also a loose prior direction
    # along that vector (each model scales the shared pattern by its own factor);
    # "direction": that loose direction alone, the prior mean left at 0. Off by default:
    # "scale" +0.0017 ± 0.0008 margin over 144 cold runs on four many-model worlds, but
    # −0.015 APGR on MMLU (simulations/README.md, "A context predictor shared by all models").
    shared: str = "off"
    # Issue #17, sixth session (simulations/README.md, "Cold start with many models: where the
    # regret is"): 0, off; C > 0: the C leading principal directions of the word block (the
    # subspace prior's, learned online from the requests' features) form a block of their
    # own whose precision evidence learns apart from the other word directions, so each model
    # fits how it does on each request family (the traffic's main clusters) with a loose
    # prior however tight the rest of the words are held. Needs ``subspace``. Off by default:
    # C = 8 moved the margin over the hull by −0.0013, +0.0002 and −0.0018 (± 0.002) cold on
    # bench11, families and bench11's CSV, and family_evidence="arm" by +0.0016, −0.0000,
    # −0.0017.
    family_directions: int = 0
    # "shared": the family block's precision is one for all models (as the other blocks'
    # with evidence "shared"); "arm": each model learns its own, so a model whose families
    # differ is not held to the others' (a screen; no setting).
    family_evidence: str = "shared"

    def __post_init__(self) -> None:
        if self.precision <= 0 or self.noise_var <= 0 or self.noise_pseudo_count < 0:
            raise ValueError("prior precision and noise variance must be positive")
        for v in (self.bias_precision, self.tail_precision):
            if v is not None and v <= 0:
                raise ValueError("bias_precision and tail_precision must be positive")
        if self.head < 1:
            raise ValueError("head must be ≥ 1")
        if self.exploration < 0 or self.pool < 0:
            raise ValueError("exploration and pool must be ≥ 0")
        if not self.tail_exploration >= 0:
            raise ValueError("tail_exploration must be ≥ 0 (1: the same spread in every direction)")
        if self.optimism_quantile is not None and not 0.0 <= self.optimism_quantile <= 1.0:
            raise ValueError("optimism_quantile must lie in [0, 1] (None: the fixed optimism)")
        if self.evidence not in EVIDENCE:
            raise ValueError(f"evidence must be one of {', '.join(EVIDENCE)}")
        subspace.parse(self.subspace)  # raises on anything else
        if shared.parse(self.shared) != "off" and self.pool > 0:
            raise ValueError("shared and pool are alternatives: pool already sets every "
                             "weight's prior mean at the pooled fit")
        if self.words is not None and self.words < 1:
            raise ValueError("words must be ≥ 1 (None: every weight from head on)")
        c = self.family_directions
        if not (c >= 0 and float(c) == int(c)):
            raise ValueError("family_directions must be a whole number ≥ 0 (0: off)")
        object.__setattr__(self, "family_directions", int(c))
        if self.family_evidence not in ("shared", "arm"):
            raise ValueError("family_evidence must be shared or arm")
        if c and (subspace.parse(self.subspace) is None or self.pool > 0):
            raise ValueError("family_directions needs the subspace prior (subspace not off, "
                             "pool 0): its directions are the subspace's leading ones")

    @property
    def sharing(self) -> str:
        """The parsed ``shared``: one of :data:`shared.MODES`."""
        return shared.parse(self.shared)

    @property
    def directions(self) -> int | str | None:
        """The parsed ``subspace``: None (off), a number of directions or ``"evidence"``. Off
        with ``pool``, whose pooled prior mean is a fit under the plain prior."""
        return None if self.pool > 0 else subspace.parse(self.subspace)

    def word_block(self, d: int) -> tuple[int, int]:
        """``[start, stop)`` of the word block in a ``d``-dimensional context."""
        start = min(int(self.head), d)
        return start, d if self.words is None else min(start + int(self.words), d)

    def precisions(self, d: int) -> np.ndarray:
        """Prior precision of each weight: ``bias_precision`` on the bias, else ``precision``."""
        lam = np.full(d, self.precision)
        if self.tail_precision is not None:
            lam[int(self.head):] = self.tail_precision
        if self.bias_precision is not None and d:
            lam[0] = self.bias_precision
        return lam

    def base_mean(self, d: int) -> np.ndarray:
        mu = np.zeros(d)
        if d:
            mu[0] = self.optimism
        return mu


@dataclass(frozen=True)
class ArmView:
    """The posterior restricted to an ordered list of candidate arms, ready to score."""

    arms: tuple[str, ...]
    theta: np.ndarray  # (K, d) posterior means
    rinv: np.ndarray  # (K, d, d): ‖rinv_k x‖² = xᵀ P_k⁻¹ x
    sigma: np.ndarray  # (K,) noise std × exploration
    n: np.ndarray  # (K,) effective number of observations
    # (K, d) weights of each arm's cost regression; None: none learned (every price is its
    # estimate), so a decision pays nothing for cost learning until some charge differed.
    cost_w: np.ndarray | None = None

    def __post_init__(self) -> None:
        spread = _Spread(self.rinv)
        object.__setattr__(self, "_spread", spread)
        # What the C helper reads, made once per view: contiguous float64 means and noise.
        object.__setattr__(self, "_native", (
            np.ascontiguousarray(self.theta, dtype=np.float64).reshape(-1),
            np.ascontiguousarray(self.sigma, dtype=np.float64), spread.factors,
            spread.table, None if self.cost_w is None
            else np.ascontiguousarray(self.cost_w, dtype=np.float64).reshape(-1)))

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation of each arm's expected reward at ``x``."""
        if not NATIVE:
            return self.predict_numpy(x)
        theta, sigma, factors, table, _ = self._native
        out = np.empty(2 * len(sigma))
        try:
            _predict(theta, x, sigma, factors, table, out)
        except (TypeError, ValueError):  # x not a contiguous float64 vector (or wrong length:
            # refused again below)
            _predict(theta, np.ascontiguousarray(x, dtype=np.float64), sigma, factors, table,
                     out)
        k = len(sigma)
        return out[:k], out[k:]

    def predict_numpy(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`predict` by numpy: the definition that the C helper matches up to float
        rounding, and the path of an install without a compiler."""
        return self.theta @ x, self.sigma * self._spread.norms(x)

    def learned_cost(self, x: np.ndarray, estimate: np.ndarray) -> np.ndarray:
        """Each arm's expected price at ``x`` given the decision-time ``estimate`` (K,)."""
        if self.cost_w is None:
            return estimate
        if not NATIVE:
            return self.learned_cost_numpy(x, estimate)
        out = np.empty(len(self.cost_w))
        w = self._native[4]
        try:
            _cost(w, x, estimate, cost_model.FLOOR, cost_model.RATIO_MAX, out)
        except (TypeError, ValueError):  # not contiguous float64 vectors (or wrong lengths:
            # refused again below)
            _cost(w, np.ascontiguousarray(x, dtype=np.float64),
                  np.ascontiguousarray(estimate, dtype=np.float64), cost_model.FLOOR,
                  cost_model.RATIO_MAX, out)
        return out

    def learned_cost_numpy(self, x: np.ndarray, estimate: np.ndarray) -> np.ndarray:
        """:meth:`learned_cost` by numpy (:func:`cost_model.predict`, the definition)."""
        if self.cost_w is None:
            return estimate
        return cost_model.predict(self.cost_w, x, np.asarray(estimate, dtype=np.float64))


class _Spread:
    """``‖rinv_k x‖`` for all K arms at once, reading only the factors' non-zero blocks.

    The K factors are cut into bands of rows, stacked across the arms; each band keeps only
    the columns where some arm's factor is non-zero in its rows. A lower-triangular factor (the
    Cholesky inverse that :func:`_solve` makes) is then read at about (B + 1) / 2B of its size
    (B bands), and a block that stands alone on the diagonal (the caller features' weights,
    when no caller has sent any) becomes a band of its own, skipped at an ``x`` that is zero
    there. Any other factor is read in full. float32: the spread needs no more than its ~7
    digits, and it halves the bytes again. One matrix-vector product per band, each into its
    slice of one output: exact up to float32 rounding, for any d and any factor (tests).

    Measured at K = 10, d = 281 (issue 19): the one stacked (K·d, d) product read 3.2 MB per
    decision, out of what the L2 cache holds (162–277 µs); banded it reads 1.6 MB in ~100 µs
    on the same loaded machine. benchmarks/README.md.

    The bands lie one after another in one float32 buffer, ``factors``, described by
    ``table`` (offset, rows per arm, first and end column of each band): what ``_predict.c``
    reads, each row padded with zeros to a multiple of :attr:`PAD` floats so that its loop
    has no tail. The numpy path's band matrices (:attr:`bands`) are made only if it runs.
    """

    PAD = 16  # _predict.c's PAD

    def __init__(self, rinv: np.ndarray) -> None:
        k, d, _ = rinv.shape
        self.k = k
        self._rinv = rinv
        nz = np.any(rinv != 0, axis=0)  # (d, d): where some arm's factor is non-zero
        self.layout = _cached_bands(np.packbits(nz).tobytes(), d, k)
        # The bands one after another in one float32 buffer (what the C helper reads), each
        # row padded with zeros to a multiple of PAD floats; ``table``: offset, rows per arm,
        # c0, c1 per band.
        widths = [-(-(c1 - c0) // self.PAD) * self.PAD for _, _, c0, c1 in self.layout]
        sizes = [k * (hi - lo) * w for (lo, hi, _, _), w in zip(self.layout, widths)]
        self.factors = np.zeros(sum(sizes), dtype=np.float32)
        self.table = np.zeros((len(self.layout), 4), dtype=np.int64)
        at = 0
        for i, (lo, hi, c0, c1) in enumerate(self.layout):
            m = self.factors[at:at + sizes[i]].reshape(k * (hi - lo), widths[i])
            m[:, :c1 - c0] = rinv[:, lo:hi, c0:c1].reshape(k * (hi - lo), c1 - c0)
            self.table[i] = at, hi - lo, c0, c1
            at += sizes[i]
        # Sums of squares per (band, arm): each band's output is K runs of its row count.
        starts = np.cumsum([0] + [k * (hi - lo) for lo, hi, _, _ in self.layout])
        self.size = int(starts[-1])
        self.runs = np.array([o + i * (hi - lo) for o, (lo, hi, _, _) in zip(starts, self.layout)
                              for i in range(k)], dtype=np.intp)

    @cached_property
    def bands(self) -> list:
        """The numpy path's band matrices, made at its first use: (output offset, K·rows,
        first column, end column, (K·rows, cols) contiguous float32). Contiguous copies, not
        views of ``factors``: BLAS sums a padded matrix's rows in another order."""
        k, out, offset = self.k, [], 0
        for lo, hi, c0, c1 in self.layout:
            m = np.ascontiguousarray(self._rinv[:, lo:hi, c0:c1].reshape(k * (hi - lo), c1 - c0),
                                     dtype=np.float32)
            out.append((offset, k * (hi - lo), c0, c1, m))
            offset += k * (hi - lo)
        return out

    def norms(self, x: np.ndarray) -> np.ndarray:
        """(K,) float64 ``‖rinv_k x‖``."""
        nzx = x.nonzero()[0]  # x is 1-D: np.flatnonzero, without its Python wrapper
        if not self.bands or not len(nzx):
            return np.zeros(self.k)
        first, last = int(nzx[0]), int(nzx[-1])
        x32 = x.astype(np.float32)
        z = np.zeros(self.size, dtype=np.float32)
        for offset, n, c0, c1, m in self.bands:
            if c1 > first and c0 <= last:  # else x is zero on all of this band's columns
                np.matmul(m, x32[c0:c1], out=z[offset:offset + n])
        sq = np.square(z, dtype=np.float64)
        return np.sqrt(np.add.reduce(np.add.reduceat(sq, self.runs).reshape(-1, self.k), axis=0))


# What one more matrix-vector product costs, in bytes read (~1 µs of call overhead).
BAND_COST_BYTES = 16_384


@lru_cache(maxsize=32)
def _cached_bands(packed: bytes, d: int, k: int) -> tuple[tuple[int, int, int, int], ...]:
    """:func:`_bands` of a packed pattern: every refit of a posterior has the same pattern
    (lower-triangular), so the ~10 ms of its dynamic programme are paid once per process."""
    bits = np.unpackbits(np.frombuffer(packed, dtype=np.uint8), count=d * d)
    return tuple(_bands(bits.reshape(d, d).astype(bool), k))


def _bands(nz: np.ndarray, k: int) -> list[tuple[int, int, int, int]]:
    """Row bands ``(lo, hi, c0, c1)`` covering every non-zero of ``nz`` (d × d), chosen by
    dynamic programming to minimise the bytes read by K arms plus :data:`BAND_COST_BYTES`
    per band. Rows without a non-zero are left out."""
    d = nz.shape[0]
    has = nz.any(axis=1)
    first = np.where(has, nz.argmax(axis=1), d)
    last = np.where(has, d - 1 - nz[:, ::-1].argmax(axis=1), -1)
    best = np.full(d + 1, np.inf)
    best[0] = 0.0
    back = np.zeros(d + 1, dtype=np.intp)
    rows = np.arange(1, d + 1)
    for lo in range(d):  # best[lo] is final: every band ending at lo starts before it
        c0 = np.minimum.accumulate(first[lo:])
        c1 = np.maximum.accumulate(last[lo:]) + 1
        width = np.maximum(c1 - c0, 0)
        cost = best[lo] + 4.0 * k * (rows[: d - lo]) * width + np.where(width > 0,
                                                                       BAND_COST_BYTES, 0)
        better = cost < best[lo + 1:]
        best[lo + 1:][better] = cost[better]
        back[lo + 1:][better] = lo
    out = []
    hi = d
    while hi > 0:
        lo = int(back[hi])
        block = nz[lo:hi].any(axis=0)
        if block.any():
            cols = np.flatnonzero(block)
            out.append((lo, hi, int(cols[0]), int(cols[-1]) + 1))
        hi = lo
    return out[::-1]


@dataclass
class Posterior:
    """Per-arm posterior means and factors, fitted from ``stats``; immutable once built."""

    stats: SufficientStats
    prior: Prior
    theta: np.ndarray = field(repr=False)
    rinv: np.ndarray = field(repr=False)
    sigma: np.ndarray = field(repr=False)  # noise std × exploration
    version: int = 0
    noise_sd: np.ndarray | None = field(default=None, repr=False)  # (K,) residual std
    cost_w: np.ndarray | None = field(default=None, repr=False)  # (K, d) cost regression
    # The word block's principal directions the fit used (``Prior.subspace``; None: off or
    # no request seen yet): untried models' priors in a view take the same shape.
    basis: subspace.Basis | None = field(default=None, repr=False)
    _views: OrderedDict = field(default_factory=OrderedDict, repr=False)
    _prior: tuple | None = field(default=None, repr=False)  # an untried arm's, when built

    def __post_init__(self) -> None:
        if self.noise_sd is None:  # payloads stored before noise_sd was kept
            e = self.prior.exploration
            self.noise_sd = (self.sigma / e if e > 0
                             else np.full(len(self.sigma), np.sqrt(self.prior.noise_var)))
        if self.cost_w is None:  # payloads stored before costs were learned: from the stats
            self.cost_w = cost_model.weights(self.stats.A, self.stats.b_cost)

    @property
    def arms(self) -> list[str]:
        return self.stats.arms

    @property
    def dim(self) -> int:
        return self.stats.dim

    @classmethod
    def fit(cls, stats: SufficientStats, prior: Prior, version: int = 0) -> "Posterior":
        theta, rinv, noise_sd, lam, basis = _solve(stats, prior)
        if prior.evidence != "none":  # where the next refit's fixed point starts
            stats = replace(stats, precision=lam)
        return cls(stats=stats, prior=prior, theta=theta, rinv=rinv,
                   sigma=noise_sd * prior.exploration, version=version, noise_sd=noise_sd,
                   cost_w=cost_model.weights(stats.A, stats.b_cost), basis=basis)

    @classmethod
    def from_prior(cls, arms: list[str], dim: int, prior: Prior, version: int = 0) -> "Posterior":
        return cls.fit(SufficientStats.empty(arms, dim), prior, version)

    def view(self, arms: tuple[str, ...] | list[str]) -> ArmView:
        """Scoring arrays for ``arms`` in that order; arms without data get the prior."""
        key = tuple(arms)
        hit = self._views.get(key)
        if hit is not None:
            # Views are read from request threads and built ahead by the sync thread: another
            # thread may have evicted the key since the get; the view itself is still valid.
            # (try/except, not contextlib.suppress: no context manager made on every decision)
            try:
                self._views.move_to_end(key)
            except KeyError:
                pass
            return hit
        p_theta, p_rinv, p_sigma = self._untried()
        k = len(key)
        theta = np.repeat(p_theta[None], k, axis=0)
        rinv = np.repeat(p_rinv[None], k, axis=0)
        sigma = np.full(k, p_sigma)
        n = np.zeros(k)
        cost_w = np.zeros((k, self.dim))
        for i, arm in enumerate(key):
            if arm in self.stats.arms:
                j = self.stats.arms.index(arm)
                theta[i], rinv[i], sigma[i], n[i] = (self.theta[j], self.rinv[j], self.sigma[j],
                                                     self.stats.n[j])
                cost_w[i] = self.cost_w[j]
        if self.prior.tail_exploration != 1.0:  # ‖R⁻¹ D x‖ with D = diag(1, …, c, …, c)
            rinv[:, :, int(self.prior.head):] *= self.prior.tail_exploration
        out = ArmView(arms=key, theta=theta, rinv=rinv, sigma=sigma, n=n,
                      cost_w=cost_w if cost_w.any() else None)
        self._views[key] = out
        while len(self._views) > 64:
            with contextlib.suppress(KeyError):  # emptied by another thread meanwhile
                self._views.popitem(last=False)
        return out

    def _untried(self) -> tuple[np.ndarray, np.ndarray, float]:
        """Mean, factor and noise of an arm without data, computed once per posterior."""
        if self._prior is None:
            A, b, prior = self.stats.A, self.stats.b, self.prior
            mean, loose = prior_mean(A, b, prior), None
            if prior.sharing != "off":  # the shared fit of all models, in z then back
                if self.basis is not None:
                    A, b = self.basis.to_z(A, b)
                w = shared.weights(A, b, prior.precisions(self.dim), leave_out=False)
                if prior.sharing in ("scale", "direction"):
                    loose = shared.loose_direction(w, prior.precisions(self.dim),
                                                   prior.noise_var)
                if prior.sharing != "direction":
                    mean = mean + (w if self.basis is None else self.basis.from_z(w[None])[0])
            self._prior = _prior_arm(mean, prior, self.basis, loose)
        return self._prior

    def to_bytes(self) -> bytes:
        """Serialise (stats, prior and fitted arrays) for storage in the database."""
        buf = io.BytesIO()
        basis = self.basis
        meta = json.dumps({"prior": self.prior.__dict__, "version": self.version,
                           "basis": None if basis is None else [basis.start, basis.r]})
        extra = {} if basis is None else {"basis": basis.q}
        np.savez(buf, stats=np.frombuffer(self.stats.to_bytes(), dtype=np.uint8),
                 theta=self.theta, rinv=self.rinv, sigma=self.sigma, noise_sd=self.noise_sd,
                 cost_w=self.cost_w, meta=np.array(meta), **extra)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Posterior":
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            stats = SufficientStats.from_bytes(z["stats"].tobytes())
            noise_sd = z["noise_sd"] if "noise_sd" in z.files else None
            cost_w = z["cost_w"] if "cost_w" in z.files else None  # None: from the stats
            where = meta.get("basis")
            basis = (None if where is None or "basis" not in z.files
                     else subspace.Basis(start=int(where[0]), q=z["basis"], r=int(where[1])))
            out = cls(stats=stats, prior=Prior(**meta["prior"]), theta=z["theta"],
                      rinv=z["rinv"], sigma=z["sigma"], version=meta["version"],
                      noise_sd=noise_sd, cost_w=cost_w, basis=basis)
        out.validate()
        return out

    def validate(self) -> None:
        """Raise ValueError unless the fitted arrays match the statistics' arms and dimension
        and are finite: a corrupt stored posterior is refused, not served."""
        k, d = len(self.stats.arms), self.stats.dim
        shapes = {"theta": (k, d), "rinv": (k, d, d), "sigma": (k,), "noise_sd": (k,),
                  "cost_w": (k, d)}
        for name, shape in shapes.items():
            a = getattr(self, name)
            if a.shape != shape or not np.all(np.isfinite(a)):
                raise ValueError(f"stored posterior: {name} has shape {a.shape} (expected "
                                 f"{shape}) or non-finite values")
        if self.basis is not None:
            q, w = self.basis.q, self.basis.q.shape[0]
            if (q.shape != (w, w) or not 1 <= self.basis.r <= w or self.basis.start < 1
                    or self.basis.stop > d or not np.allclose(q.T @ q, np.eye(w), atol=1e-6)):
                raise ValueError("stored posterior: the subspace basis is not an orthonormal "
                                 "basis of a block of the context")


def _prior_arm(mean: np.ndarray, prior: Prior, basis: subspace.Basis | None = None,
               loose: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """An untried arm's mean, factor and noise; ``loose`` (z coordinates): the prior
    precision there is ``diag λ − loose looseᵀ`` (:func:`shared.loose_direction`)."""
    d = len(mean)
    lam = prior.precisions(d)
    if loose is None:
        rinv = (np.diag(1.0 / np.sqrt(lam)) if basis is None
                else basis.factor(np.zeros((1, d, d)), lam[None])[0])
    elif basis is None:
        rinv = evidence.factor(-np.outer(loose, loose)[None], lam[None], np.zeros((1, d)))[0][0]
    else:
        v = basis.back(loose[None])[0]
        rinv = basis.factor(-np.outer(v, v)[None], lam[None])[0]
    return mean.copy(), rinv, float(np.sqrt(prior.noise_var) * prior.exploration)


def prior_mean(A: np.ndarray, b: np.ndarray, prior: Prior) -> np.ndarray:
    """Every arm's prior mean: ``optimism`` on the bias (or, with ``optimism_quantile``, that
    quantile of the observed mean rewards), or (``pool`` > 0) the ridge fit of all arms'
    statistics pooled, weighted by ``pool`` and itself shrunk towards it."""
    d = b.shape[1]
    mu0 = prior.base_mean(d)
    if prior.optimism_quantile is not None and d and len(b):
        w = A[:, 0, 0]  # the bias feature is 1: Σ weights, and b[:, 0] the weighted rewards
        seen = w >= 1.0
        if seen.any():
            mu0[0] = float(np.quantile(b[seen, 0] / w[seen], prior.optimism_quantile))
    if prior.pool <= 0 or len(b) == 0:
        return mu0
    lam = prior.precisions(d)
    P = prior.pool * A.sum(axis=0) + np.diag(lam)
    return np.linalg.solve(P, prior.pool * b.sum(axis=0) + lam * mu0)


def _solve(stats: SufficientStats, prior: Prior):
    A, b, s, n = stats.A, stats.b, stats.s, stats.n
    k, d = b.shape
    basis = _basis(stats, prior)
    if basis is not None:  # fit the weights of z = T x, whose prior is diagonal
        A, b = basis.to_z(A, b)
    mu0 = prior_mean(A, b, prior)
    sharing = prior.sharing
    if sharing != "off":  # (K, d): each model's context weights start at the others' fit
        w = shared.weights(A, b, prior.precisions(d))
        if sharing != "direction":
            mu0 = mu0 + w
    lam = np.broadcast_to(prior.precisions(d), (k, d))
    if prior.evidence != "none":
        lam = evidence.precisions(A, b, s, n, mu0, lam, stats.precision, prior,
                                  shared=prior.evidence == "shared")
    rhs, A_fit, loose = b + lam * mu0, A, None
    if sharing in ("scale", "direction"):  # prior precision diag λ − u uᵀ: loose along w
        loose = shared.loose_direction(w, lam, prior.noise_var)
        rhs = rhs - loose * (loose * mu0).sum(axis=1)[:, None]
        A_fit = A - np.einsum("ki,kj->kij", loose, loose)
    # P = R Rᵀ (Cholesky), so P⁻¹ = R⁻ᵀR⁻¹ and xᵀP⁻¹x = ‖R⁻¹x‖².
    rinv, theta = evidence.factor(A_fit, lam, rhs)
    noise = evidence.noise_variance(A, b, s, n, theta, prior, rinv, lam)
    if basis is not None:  # back to the weights and the precision's factor of x
        A_x = stats.A
        if loose is not None:
            v = basis.back(loose)
            A_x = A_x - np.einsum("ki,kj->kij", v, v)
        theta, rinv = basis.from_z(theta), basis.factor(A_x, lam)
    return theta, rinv, np.sqrt(noise), lam, basis


def _basis(stats: SufficientStats, prior: Prior) -> subspace.Basis | None:
    """The word block's principal directions for ``prior.subspace`` (None: off, or no data).
    With ``evidence``, the directions count against the word block's precision as last
    learned (the fixed prior's before any was)."""
    mode = prior.directions
    if mode is None or not len(stats.arms):
        return None
    start, stop = prior.word_block(stats.dim)
    # with family_directions, the rest of the word block's precision (the leading C
    # directions have their own, learned apart)
    at = min(start + prior.family_directions, stop - 1)
    precision = float(prior.precisions(stats.dim)[at]) if stop > start else prior.precision
    learned = stats.precision[:, at] if stop > start else np.array([])
    if np.isfinite(learned).any():
        precision = float(np.nanmean(learned))
    out = subspace.basis(stats.A, start, stop, mode, precision)
    c = min(prior.family_directions, stop - start)
    if out is not None and out.r < c:  # the family directions keep the loose scale
        out = replace(out, r=c)
    return out
