"""The HTTP benchmark's reference: a trivial FastAPI endpoint, served like ``bandit-router
serve`` (uvicorn, the same number of workers) and loaded by the same generator with the same
requests, so that ``/v1/route`` and ``/v1/feedback`` throughput can be read as a share of what
this machine gives any FastAPI endpoint at that moment.

It validates the route request's JSON (a one-field pydantic model, as a minimal FastAPI
endpoint would) and answers a decision id; nothing else.

    uvicorn benchmarks.trivial:app --workers 2
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
