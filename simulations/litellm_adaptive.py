"""The ``litellm-adaptive`` peer: LiteLLM's adaptive router as the field notes describe it.

A peer to compare with, not our learner (it lives here, not in ``bandit_router.policy``).
Re-implemented from that description (/work/shared/field-notes.md, "Online routers side by
side"), not from LiteLLM's code; the regexes are our own:

* Each prompt is given one of six **request types** by the first of these regexes that
  matches (case-insensitive), in this order: ``code`` (code fences, ``def``/``class``/
  ``function``/``import``, ``assert f(…)``, a programming language's name, "code", "bug",
  "compile"), ``commonsense`` (sentence completion: "fill in the blank", a lone ``_``,
  "most likely", "what happens next", "complete the sentence", "Option 1:"),
  ``multiple-choice`` (lines starting ``A.``/``(A)``…``D.``, "which of the following"),
  ``maths`` (arithmetic between numbers, "how many/much", "calculate", "solve", "equation",
  "percent", a dollar amount), ``writing`` (write/draft/compose/rewrite/summarise, essay,
  poem, story, email, letter), else ``other``.
* One **Beta(5, 5)** cell per (request type, model). A decision samples each eligible
  model's cell and takes the largest ``sample − λ · price``, the price being the one known
  when deciding (the same ``Dataset.cost`` every router sees).
* **Learning** from the chosen model's reward ``r`` in [0, 1] as fractional counts
  (``α += r``, ``β += 1 − r``; on 0/1 data the same as a Bernoulli update), right after each
  request: LiteLLM updates a cell on every success or failure callback, so it has no refit
  batching (the simulator's learners refit every ``--refit-every`` requests).
* **Cap**: when a cell's ``α + β`` exceeds 200 both are scaled down to sum to 200, so older
  evidence weighs less and a cell never stops moving. Cells are checked on every update: a
  non-finite or non-positive parameter (LiteLLM #41598: a persisted α = 0 failed every
  request for three weeks) is refused with an error, never sampled.
* **Warm start** (``--warm-start``/``--warm-start-fraction``): every evaluated model's score
  of every offline prompt is added to its cell as fractional counts × the warm-start weight,
  then each cell is capped (so at most 200 observations' worth survive per cell).
* **Propensity**: LiteLLM does not compute one. The simulator logs the probability that the
  chosen model's sampled utility is the largest, by deterministic quadrature (1,024 midpoints
  of the chosen model's Beta density times the others' Beta CDFs at the shifted point), so
  the log can be used for off-policy estimates like any other; ties have probability zero.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from scipy.special import betainc, betaln

from simulations.data import Dataset, DataError

REQUEST_TYPES = ("code", "commonsense", "multiple-choice", "maths", "writing", "other")
_PATTERNS = tuple(re.compile(p, re.IGNORECASE | re.MULTILINE) for p in (
    r"```|\bdef \w+\(|\bclass \w+|\bfunction\b|\bimport \w+|\bassert \w+\(|"
    r"\b(python|javascript|typescript|java|rust|golang|c\+\+|sql|html)\b|\bcode\b|\bbug\b|"
    r"\bcompile",
    r"\bfill in the blank\b|(^|\s)_(\s|[.,]|$)|\bmost likely\b|\bwhat happens next\b|"
    r"\bcomplete the (sentence|story)\b|^option 1:",
    r"^\s*\(?[a-d][.)]\s|\bwhich of the following\b",
    r"\d\s*[-+*/^=×÷]\s*\d|\bhow (many|much)\b|\bcalculate\b|\bsolve\b|\bequation\b|"
    r"\bpercent\b|\d\s*%|\$\s?\d",
    r"\b(write|draft|compose|rewrite|summari[sz]e)\b|\b(essay|poem|story|email|letter)\b",
))
_GRID = (np.arange(1024) + 0.5) / 1024  # quadrature midpoints on (0, 1)


def request_type(text: str) -> int:
    """Index into :data:`REQUEST_TYPES` of the first regex that matches ``text``."""
    for i, pattern in enumerate(_PATTERNS):
        if pattern.search(text):
            return i
    return len(REQUEST_TYPES) - 1


@dataclass(frozen=True)
class AdaptiveRouter:
    """Beta-Thompson sampling per (request type, model) cell with a count cap."""

    prior_alpha: float = 5.0
    prior_beta: float = 5.0
    cap: float = 200.0

    def __post_init__(self) -> None:
        if not (self.prior_alpha > 0 and self.prior_beta > 0):
            raise ValueError("the Beta prior's parameters must be positive")
        if not self.cap >= self.prior_alpha + self.prior_beta:
            raise ValueError("the cap must be at least the prior's count")

    def cells(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Fresh (α, β), each (types, K), at the prior."""
        shape = (len(REQUEST_TYPES), k)
        return np.full(shape, self.prior_alpha), np.full(shape, self.prior_beta)

    def choose(self, alpha: np.ndarray, beta: np.ndarray, cost: np.ndarray,
               cost_weight: float, rng: np.random.Generator,
               eligible: np.ndarray | None = None) -> tuple[int, float]:
        """(model index, propensity) for one request of one type: ``alpha``, ``beta`` and
        ``cost`` are that type's (K,) rows."""
        utility = rng.beta(alpha, beta) - cost_weight * cost
        if eligible is not None:
            utility = np.where(eligible, utility, -np.inf)
        arm = int(np.argmax(utility))
        return arm, self.propensity(alpha, beta, cost, cost_weight, arm, eligible)

    @staticmethod
    def propensity(alpha: np.ndarray, beta: np.ndarray, cost: np.ndarray, cost_weight: float,
                   arm: int, eligible: np.ndarray | None = None) -> float:
        """P(model ``arm``'s sampled utility is the largest), by quadrature over its sample:
        ∫ pdf_arm(s) · Π_j CDF_j(s − λ·c_arm + λ·c_j) ds."""
        others = np.ones(len(alpha), bool)
        others[arm] = False
        if eligible is not None:
            others &= eligible
        log_pdf = ((alpha[arm] - 1) * np.log(_GRID) + (beta[arm] - 1) * np.log1p(-_GRID)
                   - betaln(alpha[arm], beta[arm]))
        shift = cost_weight * (cost[others] - cost[arm])
        at = np.clip(_GRID[None, :] + shift[:, None], 0.0, 1.0)
        cdf = betainc(alpha[others][:, None], beta[others][:, None], at)
        p = float(np.mean(np.exp(log_pdf) * cdf.prod(axis=0)))
        return min(max(p, 1e-12), 1.0)

    def update(self, alpha: np.ndarray, beta: np.ndarray, kind: int, arm: int,
               reward: float, weight: float = 1.0) -> None:
        """Learn one outcome in place: fractional counts, then the cap."""
        alpha[kind, arm] += weight * reward
        beta[kind, arm] += weight * (1.0 - reward)
        self._cap(alpha, beta, (kind, arm))

    def learn_offline(self, alpha: np.ndarray, beta: np.ndarray, kinds: np.ndarray,
                      scores: np.ndarray, weight: float = 1.0) -> None:
        """Full-information evidence (scores (m, K), NaN where a model was not evaluated)
        added to the cells of each prompt's type, then every cell capped."""
        seen = ~np.isnan(scores)
        r = np.where(seen, scores, 0.0)
        for t in range(len(REQUEST_TYPES)):
            rows = kinds == t
            wins, count = weight * r[rows].sum(axis=0), weight * seen[rows].sum(axis=0)
            alpha[t] += wins
            beta[t] += count - wins
        self._cap(alpha, beta, np.s_[:, :])

    def _cap(self, alpha: np.ndarray, beta: np.ndarray, where) -> None:
        total = alpha[where] + beta[where]
        scale = np.minimum(1.0, self.cap / total)
        alpha[where] = alpha[where] * scale
        beta[where] = beta[where] * scale
        if not (np.isfinite(alpha[where]).all() and np.isfinite(beta[where]).all()
                and (alpha[where] > 0).all() and (beta[where] > 0).all()):
            raise ValueError("a Beta cell has a non-finite or non-positive parameter")


def replay(data: Dataset, cost_weight: float, rng: np.random.Generator,
           router: AdaptiveRouter | None = None, warm_weight: float = 1.0
           ) -> tuple[np.ndarray, np.ndarray]:
    """Route ``data`` (with ``prompts``) in order,
    learning from each chosen model's reward; returns (chosen index, propensity) per step."""
    if data.prompts is None:
        raise DataError("litellm-adaptive routes on the prompt's text, and this data has none")
    router = router or AdaptiveRouter()
    alpha, beta = router.cells(data.k)
    if data.warm is not None:
        if data.warm_prompts is None:
            raise DataError("litellm-adaptive needs the warm-start prompts' text")
        kinds = np.array([request_type(p) for p in data.warm_prompts])
        router.learn_offline(alpha, beta, kinds, data.warm[1], warm_weight)
    arm = np.empty(data.n, dtype=np.intp)
    prop = np.empty(data.n)
    for t, text in enumerate(data.prompts):
        kind = request_type(text)
        elig = None if data.available is None else data.available[t]
        arm[t], prop[t] = router.choose(alpha[kind], beta[kind], data.cost[t], cost_weight,
                                        rng, elig)
        router.update(alpha, beta, kind, int(arm[t]), float(data.reward[t, arm[t]]))
    return arm, prop
