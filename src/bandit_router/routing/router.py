"""Decide which model answers a request: candidates → eligibility → features → policy.

The :class:`Router` holds one process's :class:`Runtime` (posterior, line-up, rules, p95
latencies, tenants), a frozen snapshot the sync job replaces in one assignment, and is shared
by the HTTP API and the proxy. It does no I/O: callers record the decision it returns.

(Past 300 lines on purpose: the decision and its eligibility steps — rules, latency, budget —
share one set of per-candidate arrays and notes; apart, they would hand them back and forth.)
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

import numpy as np
from pydantic_core import to_json

from bandit_router.routing.catalog import ModelSpec
from bandit_router.features import Featurizer, estimate_tokens
from bandit_router.policy import Choice, LinearPolicy, Posterior
from bandit_router.routing.rules import NoCandidateLeft, RuleBook, evaluate, fallback_mask
from bandit_router.routing.tenancy import TenantState
from bandit_router.unique_ids import new_id

try:  # the C twin of the prices' and the explanation's numpy steps (routing/_explain.c)
    from bandit_router.routing._explain import cost as _native_cost
    from bandit_router.routing._explain import records as _native_records
    NATIVE = True
except ImportError:  # installed without a compiler: the numpy path, the same bits
    NATIVE = False

# The per-model explanation's keys, in order (the last one from the eligibility mask), and
# each number's rounding (``round_columns``'s scale; 0: as it is).
_KEYS = ("predicted_reward", "uncertainty", "estimated_cost_usd", "learned_cost_usd",
         "utility", "score", "observations", "eligible")
_SCALES = (1e6, 1e6, 0.0, 0.0, 1e6, 1e6, 1e3)


def round_columns(values: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``values`` rounded in place, entry ``i`` to ``log10(scale[i])`` decimals, bit for bit
    as ``ndarray.round`` does it (``x · 10^d``, ``rint``, ``÷ 10^d``: numpy's own steps), so that
    columns rounded to different decimals take three ufunc calls together, not three each."""
    np.multiply(values, scale, out=values)
    np.rint(values, out=values)
    np.divide(values, scale, out=values)
    return values


def explain(line: "_Lineup", choice: Choice, cost: np.ndarray, n: np.ndarray,
            eligible: np.ndarray) -> dict[str, dict[str, Any]]:
    """The explanation's per-model entries (the keys of ``_KEYS``): mean, spread, utility and
    score rounded to 6 decimals, the observations to 3, the prices as they are. One C call
    (routing/_explain.c) where it was built, else the numpy steps that define it."""
    if NATIVE:
        try:
            return _native_records(line.ids, _KEYS, (choice.mean, choice.sd, cost, choice.cost,
                                                     choice.utility, choice.score, n),
                                   _SCALES, eligible)
        except (TypeError, ValueError):  # a column not a contiguous float64 array: below
            pass
    # One buffer and one tolist(), not a float()/round() per cell nor a round() per column.
    k = len(line.ids)
    values = np.concatenate((choice.mean, choice.sd, choice.utility, choice.score, n, cost,
                             choice.cost))
    round_columns(values[:5 * k], line.scale)
    values = values.tolist()
    return {i: dict(zip(_KEYS, row)) for i, row in zip(line.ids, zip(
        values[:k], values[k:2 * k], values[5 * k:6 * k], values[6 * k:], values[2 * k:3 * k],
        values[3 * k:4 * k], values[4 * k:5 * k], eligible.tolist()))}


class RoutingError(ValueError):
    """The request cannot be routed as asked; the message says what to change."""


class UnknownModels(RoutingError):
    pass


class NothingFits(RoutingError):
    pass


class RuleLeavesNothing(RoutingError):
    """An operator rule (or the budget fallback line-up) leaves no candidate; names the rule."""


class BudgetExhausted(RuntimeError):
    """The tenant's budget cannot pay for any candidate and the tenant chose to reject."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class NoModels(RuntimeError):
    """The line-up is empty: an operator must register a model first."""


@dataclass(frozen=True)
class RouteRequest:
    prompt: str
    features: Mapping[str, float] = field(default_factory=dict)
    candidates: tuple[str, ...] | None = None
    expected_output_tokens: int | None = None
    input_tokens: int | None = None
    cost_weight: float | None = None
    max_latency_ms: float | None = None
    budget_remaining_usd: float | None = None  # None: no budget applies
    on_exhausted: str = "cheapest"  # or "reject", or "fallback" (the rules' line-up)
    budget_retry_after_s: float = 60.0
    tenant_id: str | None = None  # whose rules apply (set by the service)
    metadata: Mapping[str, Any] | None = None  # the request's metadata, which rules match on


@dataclass(frozen=True)
class Runtime:
    """What one process routes with, as of its last sync. Built whole and swapped in one
    assignment (:meth:`Router.swap`), never edited: a request reads one consistent snapshot."""

    posterior: Posterior
    models: Mapping[str, ModelSpec]
    rules: RuleBook = field(default_factory=RuleBook)
    latency_p95: Mapping[str, float] = field(default_factory=dict)
    tenants: Mapping[str, TenantState] = field(default_factory=dict)


@dataclass(frozen=True)
class RouteDecision:
    """A decision: the one record the decision log (``service.decisions.decision_row``) and
    the API answer (``api.schemas.RouteOut.of``) are converted from."""

    decision_id: str
    model: str
    fallbacks: list[str]
    propensity: float
    policy: str
    policy_version: int
    cost_weight: float
    features: np.ndarray
    candidates: list[str]
    input_tokens: int
    output_tokens: int
    estimated_cost_usd: float
    explanation: dict[str, Any]  # for display: control flow reads the typed fields
    budget_exhausted: bool = False  # no candidate fitted the remaining budget
    logged: bool = True  # False: answered while the decision log could not take it

    @property
    def models_json(self) -> bytes:
        """``explanation["models"]`` as JSON (pydantic's serialiser), made once per decision:
        the decision log stores it (``scores``) and the answer carries it, and it is the
        largest part of both (~12 µs of a route's CPU each time it is serialised). Kept in
        the instance's ``__dict__`` (``functools.cached_property`` takes a lock per read on
        Python 3.11)."""
        made = self.__dict__.get("_models_json")
        if made is None:
            made = self.__dict__["_models_json"] = to_json(self.explanation["models"])
        return made


class _Lineup:
    """A line-up's candidates in decision order, with the arrays every decision reads."""

    def __init__(self, models: Mapping[str, ModelSpec], ids: tuple[str, ...],
                 specs: list[ModelSpec]) -> None:
        self.models = models  # the mapping this was built from (compared by identity)
        self.ids = ids
        self.specs = specs
        self.window = np.array([s.context_window for s in specs])
        self.min_window = int(self.window.min()) if specs else 0
        self.everyone = np.ones(len(specs), dtype=bool)  # every window fits: shared, read-only
        self.everyone.flags.writeable = False
        self.everyone_list = [True] * len(specs)  # its tolist()
        k = len(specs)
        # The explanation's rounding: mean, sd, utility and score to 6 decimals, the
        # observations to 3 (see Router.decide).
        self.scale = np.array([1e6] * (4 * k) + [1e3] * k)
        # Prices that are floats price every call in one vector expression, bit for bit
        # ModelSpec.cost_usd's (the same IEEE operations in the same order); an integer
        # price keeps the per-model call, whose integer product Python makes exactly.
        prices = [(s.input_price_per_mtok, s.output_price_per_mtok) for s in specs]
        self._floats = all(type(a) is float and type(b) is float for a, b in prices)
        self._in = np.array([a for a, _ in prices], dtype=np.float64)
        self._out = np.array([b for _, b in prices], dtype=np.float64)
        self._out_cost: dict[int, np.ndarray] = {}  # n_out → n_out · output prices (few n_out)

    def cost_usd(self, n_in: int, n_out: int) -> np.ndarray:
        """(K,) each candidate's catalog price of a call with these token counts."""
        if self._floats and n_in < 2**53 and n_out < 2**53:
            if NATIVE:  # the same operations in one call (routing/_explain.c)
                cost = np.empty(len(self._in))
                _native_cost(n_in, n_out, self._in, self._out, cost)
                return cost
            out = self._out_cost.get(n_out)
            if out is None:
                if len(self._out_cost) >= 64:
                    self._out_cost.clear()
                out = self._out_cost[n_out] = n_out * self._out
            cost = n_in * self._in  # (n_in · in + n_out · out) / 1e6, in place: the same bits
            cost += out
            cost /= 1e6
            return cost
        return np.array([s.cost_usd(n_in, n_out) for s in self.specs])


class Router:
    """Thread-safe: the runtime snapshot is swapped atomically by the sync job."""

    def __init__(
        self,
        featurizer: Featurizer,
        policy: LinearPolicy,
        posterior: Posterior,
        models: list[ModelSpec],
        *,
        cost_weight: float = 0.0,
        default_output_tokens: int = 256,
        seed: int | None = None,
    ) -> None:
        self.featurizer = featurizer
        self.policy = policy
        self.cost_weight = cost_weight
        self.default_output_tokens = default_output_tokens
        self._lineups: dict[tuple, _Lineup] = {}
        self.runtime = Runtime(posterior, {m.id: m for m in models})
        self.swap(self.runtime)
        self._seeds = np.random.SeedSequence(seed)
        self._seed_lock = threading.Lock()
        self._local = threading.local()

    # -- the snapshot swapped by the background sync ----------------------------------------
    def swap(self, runtime: Runtime) -> None:
        """Serve ``runtime`` from the next decision on (one assignment).

        The whole line-up's scoring arrays (what a request naming no candidates is scored
        with) are built first, in the caller's thread (the sync's), not on the event loop by
        the first request after a new posterior or line-up while every other request waits:
        1-17 ms at K = 10, d = 153 on a loaded 2-core machine (benchmarks/README.md,
        2026-12-06, "the open-loop tail"). A cache hit when neither changed."""
        if runtime.posterior.dim != self.featurizer.spec.dim:
            raise ValueError(f"posterior has feature size {runtime.posterior.dim}, "
                             f"featurizer {self.featurizer.spec.dim}")
        if runtime.models:
            runtime.posterior.view(self._lineup(runtime.models, None).ids)
        self.runtime = runtime

    def swapped(self, **changes: Any) -> None:
        """Swap in the current snapshot with ``changes`` (fields of :class:`Runtime`)."""
        self.swap(replace(self.runtime, **changes))

    @property
    def posterior(self) -> Posterior:
        return self.runtime.posterior

    @property
    def models(self) -> Mapping[str, ModelSpec]:
        return self.runtime.models

    @property
    def rules(self) -> RuleBook:
        return self.runtime.rules

    @property
    def latency_p95(self) -> Mapping[str, float]:
        return self.runtime.latency_p95

    # -- the decision -------------------------------------------------------------------
    def _rng(self) -> np.random.Generator:
        rng = getattr(self._local, "rng", None)
        if rng is None:
            with self._seed_lock:
                child = self._seeds.spawn(1)[0]
            rng = self._local.rng = np.random.default_rng(child)
        return rng

    def decide(self, req: RouteRequest, decision_id: str | None = None,
               runtime: Runtime | None = None) -> RouteDecision:
        """Choose a model for ``req``; ``decision_id`` names the decision (default: a UUID);
        ``runtime``: the snapshot to decide with (default: the current one)."""
        rt = self.runtime if runtime is None else runtime  # one snapshot for this request
        models, posterior = rt.models, rt.posterior
        if not models:
            raise NoModels(
                "no models are registered; add one with PUT /v1/models/{id} "
                "or start the server with --models PATH"
            )
        line = self._lineup(models, req.candidates)
        ids, specs = list(line.ids), line.specs

        n_in = req.input_tokens if req.input_tokens is not None else estimate_tokens(req.prompt)
        n_out = (req.expected_output_tokens if req.expected_output_tokens is not None
                 else self.default_output_tokens)
        need = n_in + n_out
        window = line.window
        fits = line.everyone if need <= line.min_window else window >= need
        if fits is not line.everyone and not fits.any():
            raise NothingFits(
                f"the prompt (~{n_in} tokens) plus expected output ({n_out} tokens) needs {need} "
                f"tokens, more than the context window of every candidate "
                f"(largest: {int(window.max())}, model {specs[int(window.argmax())].id})"
            )
        # The eligibility steps are called only where the rules or the request ask for them
        # (each returns its input unchanged otherwise): three Python calls fewer on a plain
        # request, each of which a decision after a pause pays for again (issue 19).
        # not_denied: the budget fallback's base (narrowed by deny rules in _apply_rules).
        notes: dict[str, Any] = {"not_denied": fits}
        eligible = self._apply_rules(rt.rules, req, specs, fits, need, notes) if rt.rules.sets \
            else fits
        cost = line.cost_usd(n_in, n_out)
        latency_p95 = rt.latency_p95
        if req.max_latency_ms is not None:
            eligible = self._apply_latency(latency_p95, req, specs, eligible, notes)
        if req.budget_remaining_usd is not None:
            eligible = self._apply_budget(rt.rules, req, specs, cost, eligible, notes)
        lam = self.cost_weight if req.cost_weight is None else req.cost_weight

        x = self.featurizer.transform(req.prompt, req.features)
        view = posterior.view(line.ids)
        choice = self.policy.choose(view, x, self._rng(), cost=cost, cost_weight=lam,
                                    eligible=eligible)

        # The explanation, built on every decision (explain()). The utility prices each call
        # at what its model's past calls were charged on such requests (learned_cost_usd,
        # policy/cost.py); budgets and the reservation keep the catalog estimate, so a learned
        # low price never lets a tenant past a hard budget.
        per_model = explain(line, choice, cost, view.n, eligible)
        ok = line.everyone_list if eligible is line.everyone else eligible.tolist()
        if latency_p95 or False in ok:  # the keys after the eight, in this order
            for s, e in zip(specs, ok):
                entry = per_model[s.id]
                if not e:
                    entry["reason"] = self._exclusion(s, need, notes)
                if s.id in latency_p95:
                    entry["latency_p95_ms"] = round(latency_p95[s.id], 1)
        chosen = ids[choice.index]
        explanation = {
            "policy": self.policy.name,
            "cost_weight": lam,
            "input_tokens_estimate": n_in,
            "output_tokens_estimate": n_out,
            "explored": choice.explored,
            "models": per_model,
        }
        for key in ("rules", "latency", "budget"):
            if key in notes:
                explanation[key] = notes[key]
        return RouteDecision(
            decision_id=decision_id or new_id(),
            model=chosen,
            fallbacks=[ids[i] for i in choice.ranking.tolist()[1:]],
            propensity=choice.propensity,
            policy=self.policy.name,
            policy_version=posterior.version,
            cost_weight=lam,
            features=x,
            candidates=ids,
            input_tokens=n_in,
            output_tokens=n_out,
            estimated_cost_usd=per_model[chosen]["estimated_cost_usd"],
            explanation=explanation,
            budget_exhausted=notes.get("exhausted", False),
        )

    def _lineup(self, models: Mapping[str, ModelSpec],
                candidates: tuple[str, ...] | None) -> "_Lineup":
        """The candidates' ids, specs and per-model arrays, built once per line-up and
        candidate list (a few dozen distinct ones at most), not on every decision."""
        if candidates is not None and type(candidates) is not tuple:
            candidates = tuple(candidates)  # a list from a caller: hashable, the same ids
        key = (id(models), candidates)
        hit = self._lineups.get(key)
        if hit is not None and hit.models is models:
            return hit
        if candidates is not None:
            unknown = [c for c in candidates if c not in models]
            if unknown:
                raise UnknownModels(
                    f"unknown candidate model(s): {', '.join(unknown)}; "
                    f"registered: {', '.join(sorted(models))}"
                )
            ids = tuple(dict.fromkeys(candidates))
        else:
            ids = tuple(sorted(models))
        line = _Lineup(models, ids, [models[i] for i in ids])
        if len(self._lineups) >= 256:
            self._lineups.clear()
        self._lineups[key] = line
        return line

    @staticmethod
    def _exclusion(spec: ModelSpec, need: int, notes: dict) -> str:
        if spec.context_window < need:
            return f"context window {spec.context_window} < {need} tokens needed"
        reasons = (notes.get("rules_excluded", {}).get(spec.id),
                   notes.get("latency_excluded", {}).get(spec.id),
                   notes.get("budget_excluded", {}).get(spec.id))
        return "; ".join(r for r in reasons if r) or "excluded"

    # -- eligibility rules ----------------------------------------------------------------
    @staticmethod
    def _apply_rules(book: RuleBook, req: RouteRequest, specs: list[ModelSpec],
                     fits: np.ndarray, need: int, notes: dict) -> np.ndarray:
        """The operator's rules (rules.py, a book with some set) on the candidates whose
        context window fits."""
        ids = [s.id for s in specs]
        try:
            outcome = evaluate(book, req.tenant_id, req.metadata, ids, [s.tags for s in specs])
        except NoCandidateLeft as exc:
            raise RuleLeavesNothing(str(exc)) from None
        notes["rules"] = list(outcome.trace)
        notes["rules_excluded"] = {i: outcome.reason(i) for i in ids if outcome.reason(i)}
        notes["not_denied"] = np.array(outcome.not_denied) & fits
        eligible = fits & np.array(outcome.allowed)
        if not eligible.any():
            left = [i for i, ok in zip(ids, outcome.allowed) if ok]
            raise RuleLeavesNothing(
                f"the rules leave only {', '.join(left)}, whose context window cannot hold the "
                f"{need} tokens this request needs (rules applied: "
                f"{', '.join(t['rule'] for t in outcome.trace)})")
        return eligible

    @staticmethod
    def _budget_fallback(book: RuleBook, req: RouteRequest, specs: list[ModelSpec],
                         notes: dict) -> np.ndarray | None:
        """``on_exhausted = "fallback"``: the fallback line-up's candidates no deny rule removed
        (None when no line-up is set: then the cheapest model serves, as with "cheapest")."""
        lineup = book.fallback(req.tenant_id)
        if lineup is None:
            return None
        base = notes["not_denied"]
        mask = np.array(fallback_mask(lineup, [s.id for s in specs], [s.tags for s in specs],
                                      base.tolist()), dtype=bool)
        if not mask.any():
            raise RuleLeavesNothing(
                "the budget is exhausted and the budget fallback line-up "
                f"({', '.join(lineup.models + lineup.tags)}) has no usable candidate for this "
                "request; change the line-up (PUT /v1/tenants/{id}/rules) or the candidates")
        return mask

    @staticmethod
    def _apply_latency(latency_p95: Mapping[str, float], req: RouteRequest,
                       specs: list[ModelSpec], eligible: np.ndarray, notes: dict) -> np.ndarray:
        """Exclude models whose recent p95 breaks the limit; if none is left, the fastest."""
        if req.max_latency_ms is None:
            return eligible
        p95 = np.array([latency_p95.get(s.id, s.typical_latency_ms or np.nan)
                        for s in specs], dtype=float)
        fits = eligible & ~(p95 > req.max_latency_ms)  # unknown latency (NaN) is allowed
        excluded = {s.id: f"p95 latency {p95[i]:.0f} ms > {req.max_latency_ms:.0f} ms"
                    for i, s in enumerate(specs) if eligible[i] and not fits[i]}
        note: dict[str, Any] = {"limit_ms": req.max_latency_ms, "met": True}
        if not fits.any():
            known = np.where(eligible, np.nan_to_num(p95, nan=np.inf), np.inf)
            fastest = int(np.argmin(known))
            fits = np.zeros_like(eligible)
            fits[fastest] = True
            note = {"limit_ms": req.max_latency_ms, "met": False,
                    "note": f"no candidate meets the latency limit; chose the fastest, "
                            f"{specs[fastest].id} (p95 {p95[fastest]:.0f} ms)"}
            excluded.pop(specs[fastest].id, None)
        notes["latency"] = note
        notes["latency_excluded"] = excluded
        return fits

    @classmethod
    def _apply_budget(cls, book: RuleBook, req: RouteRequest, specs: list[ModelSpec],
                      cost: np.ndarray, eligible: np.ndarray, notes: dict) -> np.ndarray:
        """Exclude models the remaining budget cannot pay for; when none is left, the
        cheapest (``on_exhausted="cheapest"``) or :class:`BudgetExhausted` (``"reject"``)."""
        if req.budget_remaining_usd is None:
            return eligible
        fits = eligible & (cost <= req.budget_remaining_usd)
        notes["budget_excluded"] = {
            s.id: f"estimated cost ${cost[i]:.6f} > remaining budget "
                  f"${req.budget_remaining_usd:.6f}"
            for i, s in enumerate(specs) if eligible[i] and not fits[i]}
        if fits.any():
            notes["budget"] = {"remaining_usd": req.budget_remaining_usd, "exhausted": False}
            return fits
        notes["exhausted"] = True
        fallback = (cls._budget_fallback(book, req, specs, notes)
                    if req.on_exhausted == "fallback" else None)
        if fallback is not None:
            for i, s in enumerate(specs):
                if fallback[i]:
                    notes["budget_excluded"].pop(s.id, None)
                elif s.id not in notes["budget_excluded"]:
                    notes["budget_excluded"][s.id] = "not in the budget fallback line-up"
            chosen_from = [s.id for i, s in enumerate(specs) if fallback[i]]
            notes["budget"] = {"remaining_usd": req.budget_remaining_usd, "exhausted": True,
                               "note": "budget exhausted; routed within the fallback line-up: "
                                       + ", ".join(chosen_from)}
            return fallback
        if req.on_exhausted == "reject":
            raise BudgetExhausted(
                f"the tenant's budget is exhausted (remaining ${req.budget_remaining_usd:.6f}, "
                f"cheapest candidate ${cost[eligible].min():.6f}); it renews in "
                f"{req.budget_retry_after_s:.0f} s", req.budget_retry_after_s)
        cheapest = int(np.argmin(np.where(eligible, cost, np.inf)))
        fits = np.zeros_like(eligible)
        fits[cheapest] = True
        notes["budget_excluded"].pop(specs[cheapest].id, None)
        notes["budget"] = {"remaining_usd": req.budget_remaining_usd, "exhausted": True,
                           "note": f"budget exhausted; routed to the cheapest model, "
                                   f"{specs[cheapest].id}"}
        return fits
