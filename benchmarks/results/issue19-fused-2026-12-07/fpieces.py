import os
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np
from benchmarks.cold import _probe
from benchmarks.common import prompts
from bandit_router.features import DEFAULT_SPEC, featurizer_for
from bandit_router.features.scan import scan
from bandit_router.features import semantic
fz = featurizer_for(DEFAULT_SPEC)
ps = prompts(300, seed=7)
for p in ps: fz.transform(p)
index, rows, native = fz._cache.state
low = [p.encode().lower() for p in ps]
ids = np.empty(2000, np.intp)
n = native.lookup(ps[0], 65536, ids)
picked = rows.take(ids[:n], axis=0)
v = semantic._ones(n) @ picked
out = np.empty(128)
probes = {
 "transform": lambda i: fz.transform(ps[i % 300]),
 "encode+lower": lambda i: ps[i % 300].encode("utf-8", errors="replace")[:65536].lower(),
 "scan": lambda i: scan(low[i % 300], 128, 2, False),
 "lookup": lambda i: native.lookup(ps[i % 300], 65536, ids),
 "take": lambda i: rows.take(ids[:n], axis=0),
 "ones@picked": lambda i: semantic._ones(n) @ picked,
 "normalise": lambda i: fz._normalise(v, out),
 "zeros": lambda i: np.zeros(153),
}
for name, call in probes.items():
    r = _probe(call, 150, 0.015)
    print(f"{name:14s} cold {r['cold_p50']:7.1f} / {r['cold_p90']:7.1f}   warm {r['warm_p50']:7.1f} / {r['warm_p90']:7.1f}")
