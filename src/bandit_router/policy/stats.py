"""Discounted sufficient statistics of per-arm linear regression.

For every arm ``k`` we keep ``A_k = Σ w xxᵀ``, ``b_k = Σ w x r``, ``s_k = Σ w r²`` and
``n_k = Σ w`` over its observations, where an observation's weight halves every
``half_life`` units of time. Decaying is a scalar multiplication of everything, so a refit
after new data costs O(new rows · d²) instead of a rescan of history. ``cusum_k`` is the
state of the arm's change detector (:mod:`bandit_router.policy.drift`); ``precision_k`` the
prior precision of each weight last learned by evidence (:mod:`bandit_router.policy.evidence`;
NaN: not learned yet), where the next refit's fixed point starts. ``b_cost_k = Σ w x y`` is
the right-hand side of the arm's cost regression (:mod:`bandit_router.policy.cost`): ``y`` is
how far a call's charged price was from the price estimated when deciding. It shares ``A_k``
(the same rows, the same weights), so it decays and is forgotten with everything else.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field

import numpy as np


@dataclass
class SufficientStats:
    """Per-arm ``A``, ``b``, ``s``, ``n`` at time ``t`` (all weights relative to ``t``)."""

    arms: list[str]
    dim: int
    A: np.ndarray = field(repr=False)  # (K, d, d)
    b: np.ndarray = field(repr=False)  # (K, d)
    s: np.ndarray = field(repr=False)  # (K,)
    n: np.ndarray = field(repr=False)  # (K,)
    t: float = 0.0
    cusum: np.ndarray | None = field(default=None, repr=False)  # (K, 2)
    precision: np.ndarray | None = field(default=None, repr=False)  # (K, d)
    b_cost: np.ndarray | None = field(default=None, repr=False)  # (K, d)

    def __post_init__(self) -> None:
        if self.cusum is None:
            self.cusum = np.zeros((len(self.arms), 2))
        if self.precision is None:
            self.precision = np.full((len(self.arms), self.dim), np.nan)
        if self.b_cost is None:  # none learned (statistics stored before costs were)
            self.b_cost = np.zeros((len(self.arms), self.dim))

    @classmethod
    def empty(cls, arms: list[str], dim: int, t: float = 0.0) -> "SufficientStats":
        k = len(arms)
        return cls(
            arms=list(arms),
            dim=dim,
            A=np.zeros((k, dim, dim)),
            b=np.zeros((k, dim)),
            s=np.zeros(k),
            n=np.zeros(k),
            t=t,
        )

    def copy(self) -> "SufficientStats":
        return SufficientStats(arms=list(self.arms), dim=self.dim, A=self.A.copy(),
                               b=self.b.copy(), s=self.s.copy(), n=self.n.copy(), t=self.t,
                               cusum=self.cusum.copy(), precision=self.precision.copy(),
                               b_cost=self.b_cost.copy())

    def with_arms(self, arms: list[str]) -> "SufficientStats":
        """A copy holding ``arms`` in that order; unknown arms start empty, others are dropped."""
        out = SufficientStats.empty(arms, self.dim, self.t)
        for i, a in enumerate(arms):
            if a in self.arms:
                j = self.arms.index(a)
                out.A[i], out.b[i], out.s[i], out.n[i] = self.A[j], self.b[j], self.s[j], self.n[j]
                out.cusum[i], out.precision[i] = self.cusum[j], self.precision[j]
                out.b_cost[i] = self.b_cost[j]
        return out

    def forget(self, k: int, keep: float) -> None:
        """Scale arm ``k``'s statistics down to the weight of ``keep`` observations."""
        if self.n[k] > keep:
            self._scale(keep / self.n[k], k)

    def _scale(self, f: float, k: int | slice = slice(None)) -> None:
        """Multiply the weight of every observation of arm ``k`` (default: all arms) by ``f``."""
        self.A[k] *= f
        self.b[k] *= f
        self.b_cost[k] *= f
        self.s[k] *= f
        self.n[k] *= f

    def decay_to(self, t: float, half_life: float | None) -> None:
        """Move the reference time to ``t``, down-weighting everything by 2^-(Δt/half_life)."""
        if half_life is not None and half_life > 0 and t > self.t:
            self._scale(0.5 ** ((t - self.t) / half_life))
        self.t = max(self.t, t)

    def update(
        self,
        arm_idx: np.ndarray,
        X: np.ndarray,
        r: np.ndarray,
        times: np.ndarray | None = None,
        half_life: float | None = None,
        weight: np.ndarray | None = None,
        cost_target: np.ndarray | None = None,
    ) -> None:
        """Add observations (arm index, features, reward) observed at ``times``, each worth
        ``weight`` observations (None: one); ``cost_target`` is each row's target of the cost
        regression (:func:`bandit_router.policy.cost.target`; None: nothing learned of costs).

        Rows observed before the reference time ``t`` are down-weighted by their age; call
        ``decay_to`` first to move ``t`` forward.
        """
        arm_idx = np.asarray(arm_idx, dtype=np.intp)
        X = np.asarray(X, dtype=np.float64)
        r = np.asarray(r, dtype=np.float64)
        if len(r) == 0:
            return
        if times is not None and half_life is not None and half_life > 0:
            age = np.maximum(self.t - np.asarray(times, dtype=np.float64), 0.0)
            w = 0.5 ** (age / half_life)
        else:
            w = np.ones(len(r))
        if weight is not None:
            w = w * np.asarray(weight, dtype=np.float64)
        order = np.argsort(arm_idx, kind="stable")
        arm_sorted = arm_idx[order]
        bounds = np.flatnonzero(np.diff(arm_sorted)) + 1
        for group in np.split(order, bounds):
            k = arm_idx[group[0]]
            Xg, rg, wg = X[group], r[group], w[group]
            Xw = Xg * wg[:, None]
            self.A[k] += Xw.T @ Xg
            self.b[k] += Xw.T @ rg
            if cost_target is not None:
                self.b_cost[k] += Xw.T @ np.asarray(cost_target, dtype=np.float64)[group]
            self.s[k] += float(wg @ (rg * rg))
            self.n[k] += float(wg.sum())

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        meta = json.dumps({"arms": self.arms, "dim": self.dim, "t": self.t})
        np.savez(buf, A=self.A, b=self.b, s=self.s, n=self.n, cusum=self.cusum,
                 precision=self.precision, b_cost=self.b_cost, meta=np.array(meta))
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "SufficientStats":
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            cusum = z["cusum"] if "cusum" in z.files else None  # absent before drift detection
            precision = z["precision"] if "precision" in z.files else None  # … and evidence
            b_cost = z["b_cost"] if "b_cost" in z.files else None  # … and cost learning
            out = cls(arms=meta["arms"], dim=meta["dim"], A=z["A"], b=z["b"], s=z["s"],
                      n=z["n"], t=meta["t"], cusum=cusum, precision=precision, b_cost=b_cost)
        out.validate()
        return out

    def validate(self) -> None:
        """Raise ValueError unless every array has its arm count and dimension and is finite
        (precision may be NaN: not learned yet): stored state that fails is not served."""
        k, d = len(self.arms), self.dim
        shapes = {"A": (k, d, d), "b": (k, d), "s": (k,), "n": (k,), "cusum": (k, 2),
                  "precision": (k, d), "b_cost": (k, d)}
        for name, shape in shapes.items():
            a = getattr(self, name)
            if a.shape != shape:
                raise ValueError(f"stored statistics: {name} has shape {a.shape}, "
                                 f"expected {shape}")
            if not np.all(np.isfinite(a) | (name == "precision")):
                raise ValueError(f"stored statistics: {name} has non-finite values")
