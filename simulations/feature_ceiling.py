"""How far can the features carry a router? A full-information holdout check.

    python -m simulations.feature_ceiling --data ../shared/data/routellm-evals/mmlu
    python -m simulations.feature_ceiling --data DIR --buckets 256,1024,4096 --ngrams 1,2 \\
        --ridge 1,10 --seeds 5

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
from collections.abc import Sequence

import numpy as np

from bandit_router.features import FeatureSpec, Featurizer
from bandit_router.policy import Posterior, Prior, SufficientStats
from simulations.data import read_responses
from simulations.metrics import apgr


def holdout_apgr(X: np.ndarray, quality: np.ndarray, seed: int, ridge: float = 1.0,
                 points: int = 19) -> float:
    """APGR on the second half of a shuffle of a ridge fitted on the first half.

    ``quality`` is (n, 2); the model with the lower mean quality is the weak one."""
    if quality.shape[1] != 2:
        raise ValueError("APGR needs exactly two models")
    strong = int(np.argmax(quality.mean(axis=0)))
    weak = 1 - strong
    idx = np.random.default_rng(seed).permutation(len(X))
    train, test = idx[: len(X) // 2], idx[len(X) // 2:]
    # The service's own regression, with full information: every request of the training
    # half updates both models; the prior precision is the ridge strength.
    stats = SufficientStats.empty(["weak", "strong"], X.shape[1])
    both = np.repeat(train, 2)
    arm = np.tile([0, 1], len(train))
    stats.update(arm, X[both], quality[both, np.where(arm == 0, weak, strong)])
    theta = Posterior.fit(stats, Prior(precision=ridge)).theta
    gain = X[test] @ (theta[1] - theta[0])
    q = quality[test]
    order = np.argsort(-gain, kind="stable")
    shares, means = [], []
    for share in np.linspace(0.0, 1.0, points + 2)[1:-1]:
        k = int(round(share * len(test)))
        to_strong = np.zeros(len(test), dtype=bool)
        to_strong[order[:k]] = True
        shares.append(k / len(test))
        means.append(float(np.where(to_strong, q[:, strong], q[:, weak]).mean()))
    return apgr(np.array(shares), np.array(means), float(q[:, weak].mean()),
                float(q[:, strong].mean()))


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",")]


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",")]


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="CSV file or directory (RouteLLM style)")
    ap.add_argument("--buckets", type=_ints, default=[256, 1024, 4096])
    ap.add_argument("--ngrams", type=_ints, default=[2], help="max n-gram lengths to try")
    ap.add_argument("--ridge", type=_floats, default=[1.0, 10.0])
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args(argv)

    table = read_responses(args.data)
    print(f"{len(table.prompts)} requests, models {', '.join(table.models)}")
    for n_buckets in args.buckets:
        for max_ngram in args.ngrams:
            spec = FeatureSpec(n_buckets=n_buckets, max_ngram=max_ngram)
            X = Featurizer(spec).transform_many(table.prompts)
            for ridge in args.ridge:
                scores = [holdout_apgr(X, table.quality, s, ridge) for s in range(args.seeds)]
                print(f"buckets {n_buckets:5d}  n-grams ≤ {max_ngram}  d = {spec.dim:5d}  "
                      f"ridge {ridge:<5g}  APGR {np.mean(scores):.3f} ± {np.std(scores):.3f}",
                      flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
