import os
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np
from benchmarks.cold import _probe
from benchmarks.common import prompts
from benchmarks.decision import router_for
from bandit_router.features import DEFAULT_SPEC, featurizer_for
from bandit_router.routing import RouteRequest
from bandit_router.policy import thompson
fz = featurizer_for(DEFAULT_SPEC)
router = router_for(fz, 10, np.random.default_rng(0))
reqs = [RouteRequest(prompt=p) for p in prompts(300, seed=7)]
rt = router.runtime
line = router._lineup(rt.models, None)
view = rt.posterior.view(line.ids)
cost = line.cost_usd(500, 256)
xs = [fz.transform(r.prompt) for r in reqs]
rng = np.random.default_rng(1)
mean, sd = view.predict(xs[0])
pol = router.policy
ranking = np.empty(10, np.intp); score = np.empty(10)
probes = {
 "noop": lambda i: None,
 "standard_normal": lambda i: rng.standard_normal(10),
 "random": lambda i: rng.random(),
 "np.empty": lambda i: np.empty(10, np.intp),
 "predict": lambda i: view.predict(xs[i % 300]),
 "learned_cost": lambda i: view.learned_cost(xs[i % 300], cost),
 "probability": lambda i: thompson._probability(mean, sd, i % 10, thompson._GRID, thompson._W_PHI),
 "_choose": lambda i: thompson._choose(mean, sd, None, rng, 0.001, 0.05, 2.0, thompson._GRID, thompson._W_PHI, score, ranking),
 "choose": lambda i: pol.choose(view, xs[i % 300], rng, cost=cost, cost_weight=0.0),
}
for name, call in probes.items():
    r = _probe(call, 150, 0.015)
    print(f"{name:16s} cold {r['cold_p50']:7.1f} / {r['cold_p90']:7.1f}   warm {r['warm_p50']:7.1f} / {r['warm_p90']:7.1f}")
