"""How far can the features carry a router? A full-information holdout check.

    python -m simulations.feature_ceiling --data ../shared/data/routellm-evals/mmlu
    python -m simulations.feature_ceiling --data DIR --buckets 256,1024,4096 --ngrams 1,2 \\
        --ridge 1,10 --seeds 5
    python -m simulations.feature_ceiling --data DIR --features emb.npy --knn 25,100

``--features`` adds a precomputed feature file (e.g. sentence embeddings written by
``python -m simulations.embed``) to the hashed feature shapes; ``--knn`` adds, for every
feature set, a nearest-neighbour ranking (the mean gain of the ``k`` most cosine-similar
training requests), to see whether a non-linear learner would get more out of the same
features than the linear regression the policies use.

For a two-model response set: per model, the service's Bayesian linear regression of its
quality on the features (prior precision = ``--ridge``; trained with *every* model's outcome
on one half of a shuffle), then on the other half the requests are ranked by predicted gain
(strong − weak) and routed to the strong model above a threshold swept over 19 strong shares. APGR is the area under that PGR curve (RouteLLM's
definition, ``simulations.metrics.apgr``). No bandit feedback and no exploration: this is what
a featurisation allows at best with a linear model, so a bandit on the same features scores
below it. It is how the issue's "ridge on half the data" reference is computed here.
(``bandit-router simulate --sweep`` reports ``ceiling-holdout`` too, but routes by a λ sweep
through the policy at the service's feature shape; this ranks by predicted gain at fixed
strong shares, for any feature shape.)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np

from bandit_router.features import FeatureSpec, Featurizer
from bandit_router.policy import Posterior, Prior, SufficientStats
from simulations.data import DataError, read_features, read_responses
from simulations.metrics import apgr


def holdout_apgr(X: np.ndarray, quality: np.ndarray, seed: int, ridge: float = 1.0,
                 points: int = 19) -> float:
    """APGR on the second half of a shuffle of a ridge fitted on the first half.

    ``quality`` is (n, 2); the model with the lower mean quality is the weak one."""
    strong, weak, train, test = _split(quality, seed)
    # The service's own regression, with full information: every request of the training
    # half updates both models; the prior precision is the ridge strength.
    stats = SufficientStats.empty(["weak", "strong"], X.shape[1])
    both = np.repeat(train, 2)
    arm = np.tile([0, 1], len(train))
    stats.update(arm, X[both], quality[both, np.where(arm == 0, weak, strong)])
    theta = Posterior.fit(stats, Prior(precision=ridge)).theta
    return _ranked_apgr(X[test] @ (theta[1] - theta[0]), quality[test], strong, points)


def holdout_knn_apgr(X: np.ndarray, quality: np.ndarray, seed: int, k: int = 100,
                     points: int = 19) -> float:
    """Like :func:`holdout_apgr`, but a test request's predicted gain is the mean gain of its
    ``k`` most cosine-similar training requests (features without the bias column)."""
    strong, weak, train, test = _split(quality, seed)
    F = X[:, 1:].astype(np.float32)
    F /= np.maximum(np.linalg.norm(F, axis=1, keepdims=True), 1e-12)
    gain = quality[train, strong] - quality[train, weak]
    k = min(k, len(train))
    train_t = F[train].T  # gathered once, not per block
    pred = np.empty(len(test))
    for lo in range(0, len(test), 1024):  # blocks keep the similarity matrix small
        sim = F[test[lo:lo + 1024]] @ train_t
        near = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        pred[lo:lo + 1024] = gain[near].mean(axis=1)
    return _ranked_apgr(pred, quality[test], strong, points)


def _split(quality: np.ndarray, seed: int):
    if quality.shape[1] != 2:
        raise ValueError("APGR needs exactly two models")
    strong = int(np.argmax(quality.mean(axis=0)))
    idx = np.random.default_rng(seed).permutation(len(quality))
    return strong, 1 - strong, idx[: len(quality) // 2], idx[len(quality) // 2:]


def _ranked_apgr(gain: np.ndarray, q: np.ndarray, strong: int, points: int) -> float:
    """APGR of routing the highest predicted gains to the strong model, at ``points`` shares."""
    weak = 1 - strong
    order = np.argsort(-gain, kind="stable")
    shares, means = [], []
    for share in np.linspace(0.0, 1.0, points + 2)[1:-1]:
        k = int(round(share * len(q)))
        to_strong = np.zeros(len(q), dtype=bool)
        to_strong[order[:k]] = True
        shares.append(k / len(q))
        means.append(float(np.where(to_strong, q[:, strong], q[:, weak]).mean()))
    return apgr(np.array(shares), np.array(means), float(q[:, weak].mean()),
                float(q[:, strong].mean()))


def _ints(text: str) -> list[int]:
    return [] if text.strip().lower() in ("", "none") else [int(v) for v in text.split(",")]


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",")]


def _feature_sets(args, prompts: list[str]):
    """(label, X) for every hashed shape asked for, then the precomputed file if any."""
    for n_buckets in args.buckets:
        for max_ngram in args.ngrams:
            spec = FeatureSpec(words="hashed", n_buckets=n_buckets, max_ngram=max_ngram)
            yield (f"buckets {n_buckets:5d}  n-grams ≤ {max_ngram}  d = {spec.dim:5d}",
                   Featurizer(spec).transform_many(prompts))
    if args.features is not None:
        X = read_features(args.features, len(prompts))
        yield f"{args.features}  d = {X.shape[1]:5d}", X


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="CSV file or directory (RouteLLM style)")
    ap.add_argument("--buckets", type=_ints, default=[256, 1024, 4096],
                    help="hashed bucket counts to try, comma-separated, or 'none'")
    ap.add_argument("--ngrams", type=_ints, default=[2], help="max n-gram lengths to try")
    ap.add_argument("--ridge", type=_floats, default=[1.0, 10.0])
    ap.add_argument("--features", default=None,
                    help="also score a precomputed .npy feature file (python -m simulations.embed)")
    ap.add_argument("--knn", type=_ints, default=[],
                    help="also rank by the mean gain of the k nearest training requests")
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args(argv)

    try:
        table = read_responses(args.data)
        print(f"{len(table.prompts)} requests, models {', '.join(table.models)}")
        for label, X in _feature_sets(args, table.prompts):
            runs = [(f"ridge {r:<5g}", lambda s, r=r: holdout_apgr(X, table.quality, s, r))
                    for r in args.ridge]
            runs += [(f"knn {k:<7d}", lambda s, k=k: holdout_knn_apgr(X, table.quality, s, k))
                     for k in args.knn]
            for name, score in runs:
                scores = [score(s) for s in range(args.seeds)]
                print(f"{label}  {name}  APGR {np.mean(scores):.3f} ± {np.std(scores):.3f}",
                      flush=True)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
