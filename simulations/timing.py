"""Time featurising + one Thompson decision at K = 10.

``python -m simulations.timing NBUCKETS MAXNGRAM`` prints p50 and p99 in microseconds.
"""

import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

from bandit_router.features import FeatureSpec, Featurizer
from bandit_router.policy import Posterior, Prior, SufficientStats, ThompsonSampling

threadpool_limits(1)
nb, ng = int(sys.argv[1]), int(sys.argv[2])
f = Featurizer(FeatureSpec(words="hashed", n_buckets=nb, max_ngram=ng))
d = f.spec.dim; K = 10
rng = np.random.default_rng(0)
arms = [f"m{i}" for i in range(K)]
st = SufficientStats.empty(arms, d)
X = rng.normal(size=(2000, d)) / np.sqrt(d)
st.update(rng.integers(0, K, 2000), X, rng.random(2000))
view = Posterior.fit(st, Prior()).view(arms)
pol = ThompsonSampling()
prompt = ("Which of the following statements about the mitochondria is correct? " * 8)  # ~600 chars
cost = np.linspace(0.001, 0.01, K)
ts = []
for i in range(3000):
    t0 = time.perf_counter()
    x = f.transform(prompt)
    pol.choose(view, x, rng, cost=cost, cost_weight=1.0)
    ts.append(time.perf_counter() - t0)
ts = np.array(ts[200:]) * 1e6
print(f"n_buckets={nb} max_ngram={ng} dim={d} K={K}: p50 {np.percentile(ts,50):.0f} us, p99 {np.percentile(ts,99):.0f} us")
