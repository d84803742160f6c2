"""startup.settle_gc, which the app's lifespan and the decision benchmarks call once a process
has started: what is alive then leaves the collector's view, and young collections come every
GC_YOUNG_THRESHOLD allocations."""

from __future__ import annotations

import gc

from bandit_router.startup import GC_YOUNG_THRESHOLD, settle_gc


def test_settle_gc_freezes_what_is_alive_and_raises_the_young_threshold():
    before = gc.get_threshold()
    try:
        kept = [[i] for i in range(1000)]  # alive at start-up: frozen
        settle_gc()
        assert gc.get_threshold()[0] == GC_YOUNG_THRESHOLD
        assert gc.get_threshold()[1:] == before[1:]
        assert gc.get_freeze_count() >= len(kept)
        assert not any(o is kept for o in gc.get_objects())  # no collection scans it again
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


_RETAINED = """
import sys
import numpy as np
from bandit_router.startup import settle_malloc

if sys.argv[1] == "settled":
    assert settle_malloc(), "mallopt refused the threshold"
big = np.ones((4 << 20) // 8)  # a refit-sized array: freeing it raises glibc's threshold
del big
blocks = [np.ones((2 << 20) // 8) for _ in range(50)]  # 100 MiB of posterior-sized arrays
last = blocks[-1]  # still in use, as the newest posterior is
del blocks
with open("/proc/self/statm") as f:
    print(int(f.read().split()[1]) * 4096 // (1 << 20))  # resident MiB
"""


def test_settle_malloc_gives_freed_posterior_sized_arrays_back_to_the_system():
    """Without it, once a 4 MiB array was freed, glibc carves 2 MiB arrays from the heap, and
    freeing 49 of 50 leaves them resident behind the one still alive."""
    import subprocess
    import sys

    def resident(mode: str) -> int:
        out = subprocess.run([sys.executable, "-c", _RETAINED, mode], check=True,
                             capture_output=True, text=True)
        return int(out.stdout.strip())

    default, settled = resident("default"), resident("settled")
    assert default - settled > 60, (default, settled)
