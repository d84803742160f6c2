"""Every Python and C-function call one decision makes (sys.setprofile), in order."""
import os, sys
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np
from benchmarks.common import prompts
from benchmarks.decision import router_for
from bandit_router.features import DEFAULT_SPEC, featurizer_for
from bandit_router.routing import RouteRequest
fz = featurizer_for(DEFAULT_SPEC)
router = router_for(fz, 10, np.random.default_rng(0))
reqs = [RouteRequest(prompt=p) for p in prompts(256, seed=2)]
for r in reqs[:50]:
    router.decide(r)
calls = []
def prof(frame, event, arg):
    if event == "call":
        calls.append(f"py  {frame.f_code.co_filename.split('site-packages/')[-1].split('/src/')[-1]}:{frame.f_code.co_name}")
    elif event == "c_call":
        calls.append(f"c   {getattr(arg, '__qualname__', arg)}")
sys.setprofile(prof)
router.decide(reqs[60])
sys.setprofile(None)
print(len(calls), "calls"); print("\n".join(calls[:-1]))
