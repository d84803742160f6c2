"""Per-arm ridge regression of the outcomes on the context, cross-fitted for the DR estimator.

The logged rows are split into ``folds``; the prediction for a row comes from the models
fitted on the other folds only, so the doubly robust correction ``y − q̂(x, a)`` is never
computed against a model that has seen ``y`` (Chernozhukov et al., "Double/debiased machine
learning for treatment and structural parameters", Econometrics Journal 2018, §3).
Predictions are shrunk towards the training folds' mean outcome, so an arm with few logged
rows is predicted near the average rather than near zero.

``arm_features`` adds regressors that differ per arm, such as each model's price as estimated
when deciding: a cost is roughly that price, which a regression on the request features
alone cannot reproduce (it is a product of tokens and price, not linear in the features).
"""

from __future__ import annotations

import numpy as np


def cross_fitted_predictions(X: np.ndarray, actions: np.ndarray, Y: np.ndarray, n_arms: int,
                             rng: np.random.Generator, folds: int = 5,
                             ridge: float = 1.0,
                             arm_features: np.ndarray | None = None) -> np.ndarray:
    """``q̂(x_i, a)`` for every row ``i``, arm ``a`` and outcome column: an (n, K, m) array.

    ``X`` is (n, d), ``actions`` (n,) arm indices, ``Y`` (n, m) outcomes of the logged arms.
    ``arm_features`` (n, K, e), if given, are regressors of arm ``a`` at row ``i`` besides
    ``X``; scale them to order one (the ridge penalises every coefficient alike).
    With ``folds`` < 2 (or fewer rows than folds) every prediction is in-sample.
    """
    if arm_features is not None:
        # Row i's design for arm a is [x_i, f_{i,a}]: fitted on the logged arm's row.
        Xa = np.concatenate([np.broadcast_to(X[:, None, :], (len(X), n_arms, X.shape[1])),
                             arm_features], axis=2)
    else:
        Xa = None
    n, d = X.shape if Xa is None else (len(X), Xa.shape[2])
    m = Y.shape[1]
    folds = max(1, min(folds, n))
    fold = np.empty(n, dtype=np.intp)
    fold[rng.permutation(n)] = np.arange(n) % folds
    # Per-fold, per-arm sums: Gram matrices, cross-products, feature sums, counts, outcome sums.
    gram = np.zeros((folds, n_arms, d, d))
    xy = np.zeros((folds, n_arms, d, m))
    xsum = np.zeros((folds, n_arms, d))
    cell = fold * n_arms + actions
    order = np.argsort(cell, kind="stable")
    bounds = np.flatnonzero(np.diff(cell[order])) + 1
    for group in np.split(order, bounds):
        f, a = divmod(int(cell[group[0]]), n_arms)
        Xg = X[group] if Xa is None else Xa[group, a]
        gram[f, a] = Xg.T @ Xg
        xy[f, a] = Xg.T @ Y[group]
        xsum[f, a] = Xg.sum(axis=0)
    count = np.bincount(fold, minlength=folds).astype(float)
    ysum = np.zeros((folds, m))
    np.add.at(ysum, fold, Y)

    def train(total, part):  # the other folds' sums (all folds when there is only one)
        return total[None] if folds == 1 else total[None] - part

    g_tr = train(gram.sum(0), gram)
    xy_tr = train(xy.sum(0), xy)
    xs_tr = train(xsum.sum(0), xsum)
    ybar = train(ysum.sum(0), ysum) / np.maximum(train(count.sum(), count), 1.0)[:, None]
    # Regress y − ȳ on x per arm: (XᵀX + ridge·I) θ = Xᵀy − (Σx) ȳ.
    rhs = xy_tr - xs_tr[..., None] * ybar[:, None, None, :]
    theta = np.linalg.solve(g_tr + ridge * np.eye(d), rhs)  # (folds, K, d, m)
    q = np.empty((n, n_arms, m))
    for f in range(folds):
        rows = fold == f
        if Xa is None:
            q[rows] = ybar[f] + np.einsum("nd,kdm->nkm", X[rows], theta[f])
        else:
            q[rows] = ybar[f][None, None] + np.einsum("nkd,kdm->nkm", Xa[rows], theta[f])
    return q
