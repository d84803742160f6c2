"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from bandit_router.api.deps import ServiceDep
from bandit_router.http_errors import retry_after

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "not ready: `checks` says what is "
                                                      "missing (database, posterior, models)"}})
async def readyz(service: ServiceDep) -> JSONResponse:
    ok, checks = await run_in_threadpool(service.ready)
    # A stale posterior is reported, not a failure: routing from it still works, and failing
    # every replica's probe at once for it would take the whole service out of rotation.
    stale = service.staleness()
    return JSONResponse(status_code=200 if ok else 503,
                        content={"status": "ready" if ok else "not ready", "checks": checks,
                                 "posterior_stale": stale["stale"],
                                 "posterior_lag_s": stale["lag_s"]},
                        headers=None if ok else {"Retry-After": retry_after(2)})
