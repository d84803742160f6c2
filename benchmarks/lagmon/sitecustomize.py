"""Diagnostics inside each uvicorn worker of a benchmarked server, second by second: how late
the event loop ran a callback (its lag), garbage-collection pauses, the process's CPU and its
involuntary context switches (the kernel took the CPU away: other processes wanted it), and
how long the event loop's thread waited, runnable, for a CPU (``/proc/.../schedstat``).

Not part of the service: ``python -m benchmarks.balance --lag`` puts this directory on the
server's ``PYTHONPATH`` (so that Python imports this file at start-up in every process,
spawned workers included) and names a folder in ``BR_LAGMON_DIR``; each worker appends one
JSON line per second to ``lag-<pid>.jsonl`` there. Times are ``time.monotonic()``, the clock
of the load generator's send times on Linux.
"""

import os

if os.environ.get("BR_LAGMON_DIR"):
    import gc
    import json
    import threading
    import time

    _PERIOD_S = 0.005

    def _proc_counters() -> tuple[float, int, float]:
        """The process's CPU seconds, its involuntary context switches, and the seconds its
        main thread (the event loop's) has waited, runnable, for a CPU (schedstat)."""
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        nonvol = 0
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("nonvoluntary_ctxt_switches"):
                    nonvol = int(line.split()[1])
        try:
            with open(f"/proc/self/task/{os.getpid()}/schedstat") as f:
                waited = int(f.read().split()[1]) / 1e9
        except OSError:
            waited = 0.0
        return cpu, nonvol, waited

    def _monitor(loop) -> None:
        path = os.path.join(os.environ["BR_LAGMON_DIR"], f"lag-{os.getpid()}.jsonl")
        gc_pauses: list[float] = []
        started: dict[int, float] = {}

        def on_gc(phase: str, info: dict) -> None:
            if phase == "start":
                started[info["generation"]] = time.monotonic()
            elif info["generation"] in started:
                gc_pauses.append(time.monotonic() - started.pop(info["generation"]))

        gc.callbacks.append(on_gc)

        def run() -> None:
            lags: list[float] = []
            second = time.monotonic()
            cpu0, nv0, w0 = _proc_counters()
            with open(path, "a") as out:
                while not loop.is_closed():
                    done = threading.Event()
                    t0 = time.monotonic()
                    try:
                        loop.call_soon_threadsafe(done.set)
                    except RuntimeError:  # the loop closed
                        return
                    if not done.wait(5.0):
                        lags.append(5.0)
                    else:
                        lags.append(time.monotonic() - t0)
                    now = time.monotonic()
                    if now - second >= 1.0:
                        cpu, nv, w = _proc_counters()
                        pauses, gc_pauses[:] = list(gc_pauses), []
                        lags.sort()
                        out.write(json.dumps({
                            "t": round(second, 3), "span_s": round(now - second, 3),
                            "ticks": len(lags), "lag_max_ms": round(lags[-1] * 1e3, 2),
                            "lag_p99_ms": round(lags[int(0.99 * len(lags))] * 1e3, 2),
                            "lag_over_5ms": sum(x > 0.005 for x in lags),
                            "lag_over_20ms": sum(x > 0.020 for x in lags),
                            "gc": len(pauses),
                            "gc_max_ms": round(max(pauses, default=0.0) * 1e3, 2),
                            "cpu_s": round(cpu - cpu0, 3), "involuntary_switches": nv - nv0,
                            "loop_thread_runqueue_wait_ms": round((w - w0) * 1e3, 1),
                        }) + "\n")
                        out.flush()
                        lags, second, cpu0, nv0, w0 = [], now, cpu, nv, w
                    time.sleep(_PERIOD_S)

        threading.Thread(target=run, name="lagmon", daemon=True).start()

    def _patch() -> None:
        import uvicorn.server

        serve = uvicorn.server.Server.serve

        async def monitored_serve(self, *args, **kwargs):
            import asyncio

            _monitor(asyncio.get_running_loop())
            return await serve(self, *args, **kwargs)

        uvicorn.server.Server.serve = monitored_serve

    try:
        _patch()
    except ImportError:  # a process without uvicorn
        pass
