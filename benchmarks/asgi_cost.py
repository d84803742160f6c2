"""CPU per request of ``/v1/route`` and ``/v1/feedback`` in one process, without sockets:
the app (``create_app``, its middleware and the service on a throwaway Postgres database,
K models) is called as an ASGI app by concurrent asyncio tasks, and the process's CPU time
(``time.process_time``: the event loop and the writer threads) is divided by the requests
served. The trivial FastAPI endpoint of the HTTP benchmark (``benchmarks/trivial.py``) is
measured the same way, alternating with ours in rounds, so that a busy machine slows both.

Why beside ``python -m benchmarks http``: on a shared 2-core machine the throughput of a
server and its load generator swings with the neighbours' load, while the CPU a request
costs in process does not; and uvicorn's HTTP parsing and socket writes, the same for every
endpoint, are left out, so what is measured is what this repository's code adds.

    python -m benchmarks.asgi_cost [--requests 3000] [--rounds 3] [--concurrency 16]
    python -m benchmarks.asgi_cost --profile route     # pyinstrument tree of the route rounds
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=cg.%p \
        python -m benchmarks.asgi_cost --callgrind --requests 500 --rounds 1
                                  # instructions of the route and the feedback phases only

With ``--callgrind`` the process turns valgrind's instrumentation on (``callgrind_control
-i on``) just before each timed phase and off after it, dumping one profile per phase
(``callgrind_control -d``): the instructions a request costs, in this process and its writer
threads, on a machine whose neighbours make times unreliable. The trivial endpoint is not
loaded in that mode.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import time

from benchmarks.common import ADMIN_KEY, machine, pg_database, prompts, save

Response = tuple[int, bytes]


async def call(app, method: str, path: str, body: dict | bytes | None = None,
               key: str | None = None) -> Response:
    """One request through the ASGI app; returns (status, body). ``body``: JSON, as an
    object or already encoded."""
    raw = body if type(body) is bytes else json.dumps(body).encode() if body is not None else b""
    headers = [(b"host", b"bench"), (b"content-type", b"application/json"),
               (b"content-length", str(len(raw)).encode())]
    if key:
        headers.append((b"authorization", f"Bearer {key}".encode()))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 18000), "app": app}
    sent = False
    status, chunks = 0, []

    async def receive() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        await asyncio.Event().wait()  # a client that stays connected
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        else:
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


def _encoded(requests: list[tuple[str, dict | bytes]]) -> list[tuple[str, bytes]]:
    """The bodies as JSON: the client's work, not the server's, so encoded before a phase
    is timed or instrumented (a 2 kB prompt's json.dumps was ~80,000 instructions, 5 % of
    what a route phase counted)."""
    return [(path, body if type(body) is bytes else json.dumps(body).encode())
            for path, body in requests]


async def load(app, requests: list[tuple[str, dict]], key: str | None,
               concurrency: int) -> tuple[list[Response], float, float]:
    """Serve ``requests`` (path, body) from ``concurrency`` tasks; returns the answers,
    the process CPU seconds and the wall seconds it took."""
    answers: list[Response | None] = [None] * len(requests)
    nxt = iter(range(len(requests)))
    requests = _encoded(requests)  # before the clock starts

    async def worker() -> None:
        for i in nxt:
            path, body = requests[i]
            answers[i] = await call(app, "POST", path, body, key)

    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return answers, time.process_time() - cpu0, time.perf_counter() - wall0


async def measure(args) -> dict:
    from bandit_router import logs
    from bandit_router.api.app import create_app
    from bandit_router.config import Settings
    from bandit_router.routing.catalog import ModelSpec
    from bandit_router.service import Service
    from benchmarks import trivial

    texts = prompts(200, seed=3)
    out: dict = {"benchmark": "asgi_cost", "machine": machine(), "k": args.k,
                 "requests_per_round": args.requests, "concurrency": args.concurrency,
                 "rounds": []}
    logs.configure(args.log_level)  # as `serve` does; the HTTP benchmark serves at WARNING
    with pg_database() as url:
        service = Service(Settings(database_url=url, admin_key=ADMIN_KEY, scheduler=False,
                                   log_level=args.log_level))
        service.start()
        service.register_models([
            ModelSpec(id=f"model-{i:02d}", input_price_per_mtok=0.1 * (i + 1),
                      output_price_per_mtok=0.4 * (i + 1), context_window=128_000)
            for i in range(args.k)])
        app = create_app(service=service)
        async with app.router.lifespan_context(app):
            status, body = await call(app, "POST", "/v1/tenants",
                                      {"id": "bench", "name": "bench"}, ADMIN_KEY)
            assert status == 201, body
            status, body = await call(app, "POST", "/v1/tenants/bench/keys", None, ADMIN_KEY)
            assert status == 201, body
            key = json.loads(body)["key"]
            routes = [("/v1/route", {"prompt": texts[i % len(texts)]})
                      for i in range(args.requests)]
            if args.gc_threshold:
                gc.set_threshold(args.gc_threshold)
            await load(app, routes[:300], key, args.concurrency)  # warm-up
            await load(trivial.app, routes[:300], None, args.concurrency)
            profiler = None

            async def phase(name: str, requests: list, status: int) -> list[Response]:
                """One round's requests of ``name``: CPU and rate into ``row``."""
                nonlocal profiler
                requests = _encoded(requests)
                if args.profile == name:
                    profiler = _start(profiler)
                if args.callgrind:
                    _callgrind("-i", "on")
                spy = _py_spy(args.py_spy, name) if args.py_spy else None
                answers, cpu, wall = await load(app, requests, key, args.concurrency)
                if spy is not None:
                    _stop(spy)
                if args.callgrind:
                    _callgrind("-d", name)  # the phase's own profile
                    _callgrind("-i", "off")
                _pause(profiler)
                assert all(s == status for s, _ in answers), {s for s, _ in answers}
                row[f"{name}_cpu_us"] = round(1e6 * cpu / len(requests), 1)
                row[f"{name}_rps_one_process"] = round(len(requests) / wall, 1)
                return answers

            for _ in range(args.rounds):
                row: dict = {}
                gc.collect()
                if not args.callgrind:  # (under valgrind its CPU would mean nothing)
                    _, cpu, wall = await load(trivial.app, routes, None, args.concurrency)
                    row["trivial_cpu_us"] = round(1e6 * cpu / len(routes), 1)
                answers = await phase("route", routes, 200)
                await phase("feedback", [("/v1/feedback", {"decision_id": json.loads(b)[
                    "decision_id"], "reward": 0.5}) for _, b in answers], 201)
                out["rounds"].append(row)
                print(row, flush=True)
        service.stop()
    measured = ("route", "feedback") if args.callgrind else ("trivial", "route", "feedback")
    for k in measured:
        out[f"median_{k}_cpu_us"] = statistics.median(r[f"{k}_cpu_us"] for r in out["rounds"])
        # The least a round took: what a neighbour's load (which only ever adds CPU time,
        # through cache misses and migrations) disturbed least.
        out[f"min_{k}_cpu_us"] = min(r[f"{k}_cpu_us"] for r in out["rounds"])
    if not args.callgrind:
        for k in ("route", "feedback"):
            out[f"{k}_cpu_over_trivial"] = round(out[f"median_{k}_cpu_us"]
                                                 / out["median_trivial_cpu_us"], 2)
    out["machine_after"] = machine()
    if profiler is not None:
        print(profiler.output_text(unicode=True, color=False, show_all=False))
    return out


def _start(profiler):
    from pyinstrument import Profiler

    profiler = profiler or Profiler(interval=0.0002, async_mode="disabled")
    profiler.start()
    return profiler


def _callgrind(*command: str) -> None:
    """``callgrind_control`` on this process (which runs under valgrind's callgrind)."""
    import os
    import subprocess

    subprocess.run(["callgrind_control", *command, str(os.getpid())], check=True,
                   stdout=subprocess.DEVNULL)


def _py_spy(prefix: str, name: str):
    """``py-spy record`` of this process (its threads, samples holding the GIL) until
    :func:`_stop`; raw collapsed stacks appended to ``<prefix>-<name>.txt``."""
    import os
    import subprocess

    out = f"{prefix}-{name}.{time.monotonic_ns()}.txt"
    proc = subprocess.Popen(["py-spy", "record", "--pid", str(os.getpid()), "--rate", "500",
                             "--gil", "--threads", "--format", "raw", "--output", out],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # py-spy attaches
    return proc


def _stop(proc) -> None:
    import signal

    proc.send_signal(signal.SIGINT)
    proc.wait(30)


def _pause(profiler) -> None:
    if profiler is not None and profiler.is_running:
        profiler.stop()


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.asgi_cost", description=__doc__)
    p.add_argument("--requests", type=int, default=3000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--log-level", default="WARNING")
    p.add_argument("--gc-threshold", type=int, default=0,
                   help="gc.set_threshold(N) once the app has started (an experiment)")
    p.add_argument("--profile", choices=["route", "feedback"])
    p.add_argument("--py-spy", metavar="PREFIX",
                   help="py-spy record each timed phase to PREFIX-<phase>.<n>.txt "
                        "(raw collapsed stacks, GIL holders only)")
    p.add_argument("--callgrind", action="store_true",
                   help="under valgrind --tool=callgrind --instr-atstart=no: instrument only "
                        "the timed phases, one dump per phase (no trivial rounds)")
    p.add_argument("--save", default=None, help="write results/<name>.json")
    args = p.parse_args()
    try:
        import uvloop
        uvloop.install()  # the loop uvicorn serves on
    except ImportError:
        pass
    out = asyncio.run(measure(args))
    if args.callgrind:  # the instructions are in the dumps; times under valgrind mean little
        print("callgrind: one dump per phase (route, feedback) beside the --callgrind-out-file")
    else:
        print(f"median CPU per request: trivial {out['median_trivial_cpu_us']:.0f} µs, route "
              f"{out['median_route_cpu_us']:.0f} µs ({out['route_cpu_over_trivial']}×), "
              f"feedback {out['median_feedback_cpu_us']:.0f} µs "
              f"({out['feedback_cpu_over_trivial']}×)")
        print(f"least CPU per request in a round: trivial {out['min_trivial_cpu_us']:.0f} µs, "
              f"route {out['min_route_cpu_us']:.0f} µs, "
              f"feedback {out['min_feedback_cpu_us']:.0f} µs")
    if args.save:
        save(args.save, out)


if __name__ == "__main__":
    main()
