"""N decisions of benchmarks.decision.router_for (K, d=281) after a warm-up: run under
callgrind at two N and subtract for instructions per decision."""
import os, sys
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np
from benchmarks.common import prompts
from benchmarks.decision import router_for
from bandit_router.features import DEFAULT_SPEC, featurizer_for
from bandit_router.routing import RouteRequest
what = sys.argv[1]; n = int(sys.argv[2]); k = int(sys.argv[3]) if len(sys.argv) > 3 else 10
fz = featurizer_for(DEFAULT_SPEC)
router = router_for(fz, k, np.random.default_rng(0))
reqs = [RouteRequest(prompt=p) for p in prompts(256, seed=2)]
rt = router.runtime
line = router._lineup(rt.models, None)
view = rt.posterior.view(line.ids)
cost = line.cost_usd(500, 256)
xs = [fz.transform(r.prompt) for r in reqs]
rng = np.random.default_rng(1)
calls = {"decide": lambda i: router.decide(reqs[i % 256]),
         "choose": lambda i: router.policy.choose(view, xs[i % 256], rng, cost=cost, cost_weight=0.0, eligible=line.everyone),
         "featurise": lambda i: fz.transform(reqs[i % 256].prompt)}
f = calls[what]
for i in range(300):
    f(i)
for i in range(n):
    f(i)
