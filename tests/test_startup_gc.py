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
