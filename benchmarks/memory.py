"""How a serving process's memory grows with traffic, in one process and in minutes.

    python -m benchmarks.memory [--pairs 40000] [--step 500] [--same-prompts] [--trace]

The app (``create_app`` building and starting its own service, as ``serve`` does, with its
scheduler, on a throwaway Postgres database, three models) is called as an ASGI app
(``benchmarks/asgi_cost.py``'s ``call``): route then feedback, in chunks of ``--step``, with the soak's prompts (each with a
unique ``#i`` suffix, a new word per request, unless ``--same-prompts``). Prints the
process's resident memory every ten chunks. ``--trace`` compares ``tracemalloc`` snapshots
after the first chunk and at the end and prints the allocation sites that grew the most
(Python objects and numpy arrays; what it does not see is the C allocator's own retention).

Beside ``python -m benchmarks.soak`` (ten minutes over HTTP): the same growth question in a
few minutes, without sockets or a load generator competing for the two cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tracemalloc

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from benchmarks.asgi_cost import call, load  # noqa: E402
from benchmarks.common import ADMIN_KEY, pg_database  # noqa: E402
from benchmarks.soak import PROMPTS  # noqa: E402


def resident_mib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // (1 << 20)


async def run(pairs: int, step: int, unique: bool, trace: bool) -> list[tuple[int, int]]:
    from bandit_router import logs
    from bandit_router.api.app import create_app
    from bandit_router.config import Settings
    from bandit_router.routing.catalog import ModelSpec

    logs.configure("WARNING")
    curve: list[tuple[int, int]] = []
    with pg_database() as url:
        # As `serve` builds it: the app builds and starts its own service.
        app = create_app(Settings(database_url=url, admin_key=ADMIN_KEY, log_level="WARNING"))
        async with app.router.lifespan_context(app):
            app.state.service.register_models([
                ModelSpec(id=f"model-{i}", input_price_per_mtok=0.1 * (i + 1),
                          output_price_per_mtok=0.4 * (i + 1), context_window=128_000)
                for i in range(3)])
            await call(app, "POST", "/v1/tenants", {"id": "mem", "name": "mem"}, ADMIN_KEY)
            _, body = await call(app, "POST", "/v1/tenants/mem/keys", None, ADMIN_KEY)
            key = json.loads(body)["key"]
            first = None
            for start in range(0, pairs, step):
                routes = [("/v1/route", {"prompt": PROMPTS[i % len(PROMPTS)]
                                         + (f" #{i}" if unique else "")})
                          for i in range(start, start + step)]
                answers, _, _ = await load(app, routes, key, 16)
                refused = [b for s, b in answers if s != 200]
                if refused:
                    raise SystemExit(f"a route was refused: {refused[0][:200]!r}")
                await load(app, [("/v1/feedback", {"decision_id": json.loads(b)["decision_id"],
                                                   "reward": 0.5, "latency_ms": 100.0})
                                 for _, b in answers], key, 16)
                await asyncio.sleep(0.5)  # let the decision writer drain, as a server idles
                done = start + step
                if trace and first is None:
                    tracemalloc.start(8)
                    first = tracemalloc.take_snapshot()
                if (done // step) % 10 == 0 or done >= pairs:
                    curve.append((done, resident_mib()))
                    print(f"{done:>7} pairs: resident {curve[-1][1]} MiB", flush=True)
            if trace and first is not None:
                for stat in tracemalloc.take_snapshot().compare_to(first, "traceback")[:10]:
                    print(f"+{stat.size_diff / 1e6:.1f} MB in {stat.count_diff:+} blocks")
                    for line in stat.traceback.format()[-6:]:
                        print("   ", line)
    return curve


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.memory",
                                description=__doc__.split("\n")[0])
    p.add_argument("--pairs", type=int, default=40_000)
    p.add_argument("--step", type=int, default=500)
    p.add_argument("--same-prompts", action="store_true",
                   help="no unique suffix: no new word per request")
    p.add_argument("--trace", action="store_true", help="tracemalloc's biggest growers")
    a = p.parse_args()
    asyncio.run(run(a.pairs, a.step, not a.same_prompts, a.trace))


if __name__ == "__main__":
    main()
