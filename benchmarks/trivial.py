"""The HTTP benchmark's reference: a trivial FastAPI endpoint, served like ``bandit-router
serve`` (uvicorn, the same number of workers) and loaded by the same generator with the same
requests, so that ``/v1/route`` and ``/v1/feedback`` throughput can be read as a share of what
this machine gives any FastAPI endpoint at that moment.

It validates the route request's JSON (a one-field pydantic model, as a minimal FastAPI
endpoint would) and answers a decision id; nothing else.

    python -m benchmarks.trivial PORT WORKERS

It is served by ``bandit-router serve``'s launcher (``bandit_router.api.workers``), so that
both have the same worker model: with several workers, one listening socket shared by them,
or one ``SO_REUSEPORT`` socket each with ``BANDIT_ROUTER_REUSE_PORT=true``, as the server
under test.
"""

from __future__ import annotations

import uuid

from fastapi import FastAPI
from pydantic import BaseModel


class RouteBody(BaseModel):
    prompt: str


app = FastAPI()


@app.get("/readyz")
async def ready() -> dict:
    return {"status": "ok"}


@app.post("/v1/route")
async def route(body: RouteBody) -> dict:
    return {"decision_id": str(uuid.uuid4()), "model": "model-00"}


if __name__ == "__main__":
    import sys

    from bandit_router.api import workers
    from bandit_router.config import Settings

    workers.run("benchmarks.trivial:app", host="127.0.0.1", port=int(sys.argv[1]),
                workers=int(sys.argv[2]), per_worker_sockets=Settings().reuse_port,
                log_level="warning", access_log=False)
