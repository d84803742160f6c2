"""Replayable routing data: RouteLLM-style response files and seeded synthetic scenarios.

Every source becomes a :class:`Dataset`: one row per request, one column per model, holding
the request's features (from the service's own :class:`~bandit_router.features.Featurizer`),
the reward each model would have earned, its expected value, and the price of the call.
Full information is kept so that the oracle and the supervised ceiling can be scored; the
bandit policies only ever see the reward of the model they chose.

Past 300 lines: the response-file reader with its one-line errors for every malformed input,
the price columns, the warm-start split and the synthetic scenarios. Splitting the synthetic
scenarios into a module of their own is the next step when this file grows.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from bandit_router.routing.catalog import ModelSpec, load_catalog
from bandit_router.features import DEFAULT_SPEC, Featurizer, estimate_tokens, featurizer_for

_TRUE = {"true", "t", "yes", "y"}
_FALSE = {"false", "f", "no", "n"}
_HERE = Path(__file__).resolve().parent
# Catalogs searched for prices when neither --cost nor --models names a model.
DEFAULT_CATALOGS = (_HERE / "routellm_models.toml",)


class DataError(ValueError):
    """Input data that cannot be replayed, with a message saying what to fix."""


@dataclass(frozen=True)
class Dataset:
    """A stream of requests with every model's outcome (rows are in replay order)."""

    name: str
    models: tuple[str, ...]
    X: np.ndarray  # (n, d) request features
    reward: np.ndarray  # (n, K) reward the model would earn on this request
    expected: np.ndarray  # (n, K) its expectation (equal to ``reward`` for real data)
    cost: np.ndarray  # (n, K) USD price of the call, as known when deciding
    available: np.ndarray | None = None  # (n, K) bool: model can be chosen at this step
    latency_ms: np.ndarray | None = None  # (n, K)
    drift_step: int | None = None  # first step after a change in the world
    request_ids: np.ndarray | None = None  # (n,) stable ids of the original rows
    # Offline evaluations to warm start from: features (m, d), every model's score (m, K,
    # NaN where a model was not evaluated) and, when known, each call's decision-time and
    # charged price (m, K each, else None); never replayed or scored.
    warm: tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None] | None = None
    # (n, K) what the call is charged when that is only known afterwards (the answer's length
    # is part of the price); None: ``cost``. Runs are scored on ``billed``.
    charged: np.ndarray | None = None
    # The prompts' text (n,) and the warm-start evaluations' (m,), for routers that read
    # the text itself rather than the features (the ``litellm-adaptive`` peer's regexes).
    prompts: tuple[str, ...] | None = None
    warm_prompts: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        n, k = self.reward.shape
        if self.X.shape[0] != n or self.expected.shape != (n, k) or self.cost.shape != (n, k):
            raise DataError("features, rewards and costs must have one row per request")
        if self.charged is not None and self.charged.shape != (n, k):
            raise DataError("charged prices must have one row per request and model")
        if len(self.models) != k:
            raise DataError("one model name per reward column is required")

    @property
    def n(self) -> int:
        return self.reward.shape[0]

    @property
    def k(self) -> int:
        return self.reward.shape[1]

    @property
    def billed(self) -> np.ndarray:
        """(n, K) what each call costs the caller: ``charged`` if known, else ``cost``."""
        return self.cost if self.charged is None else self.charged

    @property
    def ids(self) -> np.ndarray:
        return np.arange(self.n) if self.request_ids is None else self.request_ids

    def take(self, rows: np.ndarray, name: str | None = None) -> "Dataset":
        """The requests ``rows`` in that order (e.g. a shuffle or a split)."""
        pick = (lambda a: None if a is None else a[rows])
        return replace(self, name=name or self.name, X=self.X[rows], reward=self.reward[rows],
                       expected=self.expected[rows], cost=self.cost[rows],
                       available=pick(self.available), latency_ms=pick(self.latency_ms),
                       request_ids=self.ids[rows], drift_step=None, charged=pick(self.charged),
                       prompts=None if self.prompts is None
                       else tuple(self.prompts[i] for i in rows))

    def shuffled(self, rng: np.random.Generator) -> "Dataset":
        """A random order of the same requests (real data has no time order to keep)."""
        return self.take(rng.permutation(self.n))

    def strongest(self) -> int:
        """Index of the model with the highest mean expected reward (hindsight)."""
        return int(np.argmax(self.expected.mean(axis=0)))

    def cheapest(self) -> int:
        return int(np.argmin(self.cost.mean(axis=0)))


# --------------------------------------------------------------------------- real data


@dataclass(frozen=True)
class ResponseTable:
    """Rows of a response file set: prompts, one quality column per model, and optionally
    each call's real price (``<model>|total_cost`` columns, NaN for models without one)."""

    prompts: list[str]
    models: tuple[str, ...]
    quality: np.ndarray  # (n, K) float in [0, 1]
    cost: np.ndarray | None = None  # (n, K) USD per call; NaN where the file has no price


# ``<model>|<field>`` columns describe a model's answer (RouterBench's naming): these two
# carry the price of the call, every other field (``|model_response`` ...) is ignored.
COST_SUFFIXES = ("|total_cost", "|cost")


def _parse(value: str) -> float | None:
    v = value.strip().lower()
    if v in _TRUE:
        return 1.0
    if v in _FALSE:
        return 0.0
    try:
        out = float(v)
    except ValueError:
        return None
    return out if math.isfinite(out) else None


def _split_columns(f: Path, names: list[str]) -> tuple[list[str], dict[str, str]]:
    """Candidate model columns and ``{model: cost column}`` of one file's header."""
    candidates, costs = [], {}
    for c in names:
        if c == "prompt":
            continue
        model, bar, _ = c.partition("|")
        if not bar:
            candidates.append(c)
            continue
        suffix = c[len(model):]
        if suffix in COST_SUFFIXES:
            if model in costs:
                raise DataError(f"{f}: model {model!r} has two cost columns "
                                f"({costs[model]!r} and {c!r}); keep one")
            costs[model] = c
    for model, col in costs.items():
        if model not in candidates:
            raise DataError(f"{f}: cost column {col!r} names no model column {model!r}")
    return candidates, costs


def read_responses(path: str | Path) -> ResponseTable:
    """Read a CSV file, or every ``*.csv`` under a directory (sorted, recursively).

    Each file needs a ``prompt`` column. A column is a model when its values are booleans
    or numbers in [0, 1] (at least half of them; a row where one is missing is skipped);
    other columns (ids, text) are ignored, as are ``<model>|<field>`` columns except the
    price of the call, ``<model>|total_cost`` or ``<model>|cost`` (USD, ≥ 0), which must
    then be given on every row whose quality is. All files must have the same columns.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(path.rglob("*.csv"))
    elif path.is_file():
        files = [path]
    else:
        raise DataError(f"{path} is neither a CSV file nor a directory")
    if not files:
        raise DataError(f"no *.csv files under {path}")
    prompts: list[str] = []
    cols: list[list[str]] = []
    where: list[tuple[Path, int]] = []  # (file, line) of each row, for error messages
    header: tuple[str, ...] | None = None
    cost_cols: dict[str, str] = {}
    for f in files:
        with f.open(newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            names = next(reader, None)
            if names is None:
                continue
            if "prompt" not in names:
                raise DataError(f"{f} has no 'prompt' column")
            candidates, costs = _split_columns(f, names)
            others = tuple(candidates)
            if header is None:
                header, cost_cols = others, costs
            elif set(others) != set(header) or costs != cost_cols:
                raise DataError(f"{f} has columns {others} (prices for {sorted(costs)}), "
                                f"the first file had {header} (prices for {sorted(cost_cols)})")
            pos = {c: i for i, c in enumerate(names)}
            wanted = [pos[c] for c in header] + [pos[cost_cols[m]] for m in sorted(cost_cols)]
            for row in reader:
                if len(row) != len(names):
                    continue
                prompts.append(row[pos["prompt"]])
                cols.append([row[i] for i in wanted])
                where.append((f, reader.line_num))
    if header is None or not prompts:
        raise DataError(f"no rows found in {path}")
    h = len(header)
    parsed = [[_parse(v) for v in r[:h]] for r in cols]
    model_idx = [j for j in range(h)
                 if sum(r[j] is not None for r in parsed) >= 0.5 * len(parsed)
                 and all(0.0 <= r[j] <= 1.0 for r in parsed if r[j] is not None)]
    for m in cost_cols:
        j = header.index(m)
        if j not in model_idx:
            bad = next((i for i, r in enumerate(parsed) if r[j] is not None
                        and not 0.0 <= r[j] <= 1.0), None)
            detail = (f"{cols[bad][j]!r} in {where[bad][0]} line {where[bad][1]}"
                      if bad is not None else "values that are not booleans or numbers")
            raise DataError(f"column {m!r} has a price column but is not a quality in [0, 1] "
                            f"or a boolean ({detail})")
    if len(model_idx) < 2:
        raise DataError(f"{path} needs at least two model columns (booleans or numbers in "
                        "[0, 1])")
    keep = [i for i, r in enumerate(parsed) if all(r[j] is not None for j in model_idx)]
    models = tuple(header[j] for j in model_idx)
    quality = np.array([[parsed[i][j] for j in model_idx] for i in keep], dtype=np.float64)
    cost = None
    if cost_cols:
        cost = np.full((len(keep), len(models)), np.nan)
        for c, m in enumerate(sorted(cost_cols)):
            j = models.index(m)
            for out_row, i in enumerate(keep):
                cost[out_row, j] = _price(cols[i][h + c], cost_cols[m], *where[i])
    return ResponseTable([prompts[i] for i in keep], models, quality, cost)


def _price(value: str, column: str, f: Path, line: int) -> float:
    """One call's price from a cost column: a finite number ≥ 0, else a DataError."""
    try:
        out = float(value)
    except ValueError:
        out = math.nan
    if not math.isfinite(out) or out < 0:
        what = "is missing" if not value.strip() else f"is {value!r}"
        raise DataError(f"{f} line {line}: column {column!r} {what}; every row with a quality "
                        "needs a price ≥ 0 in USD (or drop the column to use --cost / --models)")
    return out


def parse_costs(items: Sequence[str]) -> dict[str, float]:
    """``["model=0.002", ...]`` → ``{model: usd_per_request}``."""
    out = {}
    for item in items:
        name, sep, value = item.rpartition("=")
        if not sep or not name:
            raise DataError(f"--cost expects MODEL=USD_PER_REQUEST, got {item!r}")
        out[name] = float(value)
    return out


def _match(model: str, catalog: Mapping[str, ModelSpec]) -> ModelSpec | None:
    if model in catalog:
        return catalog[model]
    low = {k.lower(): v for k, v in catalog.items()}
    return low.get(model.lower()) or low.get(model.rsplit("/", 1)[-1].lower())


def request_costs(
    prompts: Sequence[str],
    models: Sequence[str],
    per_request: Mapping[str, float] | None = None,
    catalogs: Sequence[str | Path] = (),
    output_tokens: int = 256,
    known: np.ndarray | None = None,
) -> np.ndarray:
    """USD price of each (request, model): a flat ``--cost``, else the data's own price of
    each call (``known``, from cost columns; NaN where absent), else catalog prices × tokens.

    Catalog prices are applied to the prompt's estimated input tokens plus ``output_tokens``.
    Catalogs are searched in order, then the ones shipped with the simulations.
    """
    per_request = dict(per_request or {})
    specs: dict[str, ModelSpec] = {}
    for path in [*catalogs, *DEFAULT_CATALOGS]:
        if Path(path).exists():
            for m in load_catalog(path):
                specs.setdefault(m.id, m)
    tokens = np.array([estimate_tokens(p) for p in prompts], dtype=np.float64)
    own = priced_by_file(models, per_request, known)
    out = np.empty((len(prompts), len(models)))
    for j, m in enumerate(models):
        if m in per_request:
            out[:, j] = per_request[m]
            continue
        if own[j]:
            out[:, j] = known[:, j]
            continue
        spec = _match(m, specs)
        if spec is None:
            raise DataError(f"no price for model {m!r}: pass --cost '{m}=USD' or --models FILE")
        out[:, j] = (tokens * spec.input_price_per_mtok
                     + output_tokens * spec.output_price_per_mtok) / 1e6
    return out


def priced_by_file(models: Sequence[str], per_request: Mapping[str, float] | None,
                   known: np.ndarray | None) -> np.ndarray:
    """(K,) bool: the models whose price comes from the file's own price columns (they have
    one, and no ``--cost`` overrides it)."""
    if known is None:
        return np.zeros(len(models), dtype=bool)
    flat = per_request or {}
    return np.array([m not in flat and not np.isnan(known[:, j]).all()
                     for j, m in enumerate(models)])


def read_features(path: str | Path, n: int) -> np.ndarray:
    """Precomputed request features from a ``.npy`` file, with the bias column prepended.

    One row per request, in the order :func:`read_responses` yields them (files sorted by
    path, rows in file order), as ``python -m simulations.embed`` writes them.
    """
    try:
        F = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read features from {path}: {exc}; expected a .npy array "
                        "of shape (requests, dimensions)") from None
    if F.ndim != 2 or not np.issubdtype(F.dtype, np.number):
        raise DataError(f"{path} holds an array of shape {F.shape} and type {F.dtype}; "
                        "expected a numeric (requests, dimensions) array")
    if F.shape[0] != n:
        raise DataError(f"{path} has {F.shape[0]} rows but the data has {n} requests; "
                        "compute the features from the same files (python -m simulations.embed)")
    F = F.astype(np.float64)
    if not np.isfinite(F).all():
        bad = int(np.flatnonzero(~np.isfinite(F).all(axis=1))[0])
        raise DataError(f"{path} has a NaN or infinite value in row {bad}")
    return np.hstack([np.ones((n, 1)), F])


def load_responses(
    path: str | Path,
    featurizer: Featurizer | None = None,
    costs: Mapping[str, float] | None = None,
    catalogs: Sequence[str | Path] = (),
    output_tokens: int = 256,
    features: str | Path | None = None,
) -> Dataset:
    """A RouteLLM-style response file set as a :class:`Dataset` (file order, unshuffled).

    Request features come from ``featurizer`` (the service's by default) or, when
    ``features`` names a ``.npy`` file, from that file (see :func:`read_features`).
    """
    table = read_responses(path)
    if features is not None:
        X = read_features(features, len(table.prompts))
    else:
        X = (featurizer or featurizer_for(DEFAULT_SPEC)).transform_many(table.prompts)
    cost = request_costs(table.prompts, table.models, costs, catalogs, output_tokens,
                         table.cost)
    charged = None
    if table.cost is not None:
        # A call's real price includes its answer's length, known only once the model has
        # answered: decisions see each model's mean price per call, runs are charged the real one.
        charged = cost
        own = priced_by_file(table.models, costs, table.cost)
        cost = np.where(own[None, :], charged.mean(axis=0)[None, :], charged)
    return Dataset(name=Path(path).name, models=table.models, X=X, reward=table.quality,
                   expected=table.quality, cost=cost, charged=charged,
                   prompts=tuple(table.prompts))


def warm_split(data: Dataset, fraction: float) -> Dataset:
    """The first ``fraction`` of ``data`` as offline evaluations, the rest as the stream."""
    if not 0.0 < fraction < 1.0:
        raise DataError(f"--warm-start-fraction must lie strictly between 0 and 1, got {fraction}")
    m = int(round(fraction * data.n))
    rest = data.take(np.arange(m, data.n))
    priced = data.charged is not None
    return replace(rest, warm=(data.X[:m], data.reward[:m], data.cost[:m] if priced else None,
                               data.charged[:m] if priced else None),
                   warm_prompts=None if data.prompts is None else data.prompts[:m])


def read_warm_start(path: str | Path, models: Sequence[str], featurizer: Featurizer
                    ) -> tuple[tuple, list[str]]:
    """Offline evaluations from a response file set, as ``Dataset.warm`` for ``models``.

    Returns the evidence and the file's models that are not in ``models`` (ignored).
    Models that the file does not evaluate get NaN scores (they keep their prior). When the
    file prices its calls (``|total_cost``), each call's charged price is that, and its
    decision-time price the model's mean price over the file, as a replay of the file would
    decide (:func:`load_responses`); models without a price column learn no cost.
    """
    table = read_responses(path)
    unknown = [m for m in table.models if m not in models]
    shape = (len(table.prompts), len(models))
    scores = np.full(shape, np.nan)
    charged = np.full(shape, np.nan) if table.cost is not None else None
    for j, m in enumerate(models):
        if m in table.models:
            scores[:, j] = table.quality[:, table.models.index(m)]
            if charged is not None:
                charged[:, j] = table.cost[:, table.models.index(m)]
    estimate = None
    if charged is not None:
        with np.errstate(invalid="ignore"):  # NaN columns: no price, no cost learned
            estimate = np.broadcast_to(np.nanmean(charged, axis=0, keepdims=True)
                                       if len(charged) else charged, shape).copy()
    if len(unknown) == len(table.models):
        raise DataError(f"{path} evaluates none of the models {', '.join(models)} "
                        f"(it has {', '.join(table.models)})")
    return (featurizer.transform_many(table.prompts), scores, estimate, charged), unknown


# --------------------------------------------------------------------------- synthetic

_TOPICS = ("code", "math", "law", "medicine", "chat", "history", "physics", "finance")


@dataclass(frozen=True)
class Scenario:
    """Knobs of the synthetic world; every scenario is a variation of the stationary one."""

    steps: int = 20_000
    change_at: float = 0.5  # fraction of the stream where drift/joining/price change happens
    degrade_by: float = 0.35  # (b) quality lost by the degrading model
    newcomer_gain: float = 0.08  # (c) how much better the joining model is than the best
    price_factor: float = 0.25  # (d) the strong model's new price relative to the old
    words_per_prompt: tuple[int, int] = (8, 60)


# quality[model, topic] of the stationary world: no model is best everywhere.
_BASE_MODELS = ("small", "medium", "large")
_BASE_PRICE = np.array([0.0002, 0.001, 0.006])  # USD per request at 30 words
_BASE_LATENCY = np.array([300.0, 700.0, 1500.0])  # ms at zero load


def _topic_quality(rng: np.random.Generator, n_models: int) -> np.ndarray:
    strength = np.linspace(0.45, 0.75, n_models)[:, None]
    return np.clip(strength + rng.normal(0.0, 0.2, size=(n_models, len(_TOPICS))), 0.05, 0.95)


def _prompts(rng: np.random.Generator, topics: np.ndarray, lengths: np.ndarray) -> list[str]:
    vocab = [[f"{t}{i}" for i in range(12)] for t in _TOPICS]
    common = [f"w{i}" for i in range(200)]
    out = []
    for t, n in zip(topics, lengths):
        own = rng.integers(0, 12, size=n)
        shared = rng.integers(0, 200, size=n)
        mix = rng.random(n) < 0.7
        words = [vocab[t][o] if m else common[s] for o, s, m in zip(own, shared, mix)]
        out.append(" ".join(words))
    return out


def synthetic(name: str, seed: int, scenario: Scenario | None = None,
              featurizer: Featurizer | None = None) -> Dataset:
    """Generate scenario ``name`` (see :data:`SCENARIOS`) from ``seed``.

    Each request has a hidden topic and a length. A model's success probability depends on
    both (longer prompts are harder, more so for small models); rewards are Bernoulli draws.
    """
    if name not in SCENARIOS:
        raise DataError(f"unknown scenario {name!r}; choose one of {sorted(SCENARIOS)}")
    sc = scenario or Scenario(steps=DEFAULT_STEPS.get(name, Scenario.steps))
    if name == "families":
        from simulations import families

        w = families.generate(seed, sc.steps, featurizer)
        return Dataset(name=name, models=w.models, X=w.X, reward=w.reward,
                       expected=w.expected, cost=w.quoted, charged=w.charged,
                       prompts=tuple(w.texts))
    if name == "bench11":
        from simulations import bench11

        w = bench11.generate(seed, sc.steps, featurizer)
        return Dataset(name=name, models=w.models, X=w.X, reward=w.reward,
                       expected=w.expected, cost=w.quoted, charged=w.charged,
                       prompts=tuple(w.texts))
    rng = np.random.default_rng(seed)
    featurizer = featurizer or featurizer_for(DEFAULT_SPEC)
    n = sc.steps
    change = int(sc.change_at * n)
    models = list(_BASE_MODELS)
    quality = _topic_quality(rng, len(models))
    price = _BASE_PRICE.copy()
    latency = _BASE_LATENCY.copy()
    if name == "newcomer":
        models.append("newcomer")
        quality = np.vstack([quality, np.clip(quality.max(axis=0) + sc.newcomer_gain, 0, 0.97)])
        price = np.append(price, price[1])
        latency = np.append(latency, latency[1])
    k = len(models)
    topics = rng.integers(0, len(_TOPICS), size=n)
    lengths = rng.integers(sc.words_per_prompt[0], sc.words_per_prompt[1] + 1, size=n)
    prompts = _prompts(rng, topics, lengths)
    hardness = (lengths - 30) / 60.0  # in [-0.37, 0.5]
    size_sens = np.linspace(0.4, 0.1, len(_BASE_MODELS))
    sens = np.append(size_sens, size_sens[-1]) if k > len(size_sens) else size_sens
    expected = quality[:, topics].T - hardness[:, None] * sens[None, :]
    scale = (lengths / 30.0)[:, None]
    cost = price[None, :] * scale * np.ones((n, 1))
    available = None
    extra: list[dict[str, float] | None] = [None] * n
    lat = None
    if name == "drift":
        # The model that is best before the change is the one that degrades.
        victim = int(np.argmax(expected[:change].mean(axis=0)))
        expected[change:, victim] -= sc.degrade_by
    elif name == "newcomer":
        available = np.ones((n, k), dtype=bool)
        available[:change, -1] = False
    elif name == "price":
        cost[change:, -1] *= sc.price_factor
    elif name == "latency":
        # Load follows a slow random walk; big models slow down more under load.
        load = np.clip(np.cumsum(rng.normal(0, 0.02, size=n)) % 2.0, 0, 2.0)
        load = np.abs(load - 1.0) * 2.0  # triangle wave in [0, 2]
        slow = np.linspace(0.3, 1.2, k)
        lat = latency[None, :] * (1 + slow[None, :] * load[:, None]) * rng.lognormal(
            0, 0.25, size=(n, k))
        extra = [{"load": float(v)} for v in load]
    expected = np.clip(expected, 0.02, 0.98)
    reward = (rng.random((n, k)) < expected).astype(np.float64)
    X = np.stack([featurizer.transform(p, e) for p, e in zip(prompts, extra)])
    return Dataset(name=name, models=tuple(models), X=X, reward=reward, expected=expected,
                   cost=cost, available=available, latency_ms=lat,
                   drift_step=change if name in ("drift", "newcomer", "price") else None,
                   prompts=tuple(prompts))


SCENARIOS: dict[str, str] = {
    "stationary": "(a) three models whose quality depends on topic and prompt length",
    "drift": "(b) the best model loses quality abruptly half-way through",
    "newcomer": "(c) a better, mid-priced model becomes available half-way through",
    "price": "(d) the strongest model's price drops to a quarter half-way through",
    "latency": "(e) latency depends on model and a drifting load (passed as a caller feature)",
    "families": "ten models priced per token, six task families of real-looking prompts; a "
                "different cheap model is best on each family (simulations/families.py)",
    "bench11": "RouterBench's eleven models at list prices, four task families (multiple-choice "
               "science, commonsense, Python, grade-school maths), item-response outcomes "
               "(simulations/bench11.py)",
}
# Requests per run when --steps is not given (the others: Scenario.steps).
DEFAULT_STEPS = {"families": 5_000, "bench11": 3_150}
