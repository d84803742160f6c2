"""Operator endpoints: refit now."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from starlette.concurrency import run_in_threadpool

from bandit_router.api.deps import AdminDep, ServiceDep
from bandit_router.api.schemas import RefitOut
from bandit_router.http_errors import retry_after

router = APIRouter(tags=["admin"])


@router.post("/v1/admin/refit", response_model=RefitOut,
             responses={409: {"description": "another process is refitting; retry after "
                                             "`Retry-After`"}})
async def refit_now(_: AdminDep, service: ServiceDep) -> RefitOut:
    result = await run_in_threadpool(service.refit, True)
    if result.reason == "locked":
        raise HTTPException(409, "another process is refitting right now; retry in a few seconds",
                            headers={"Retry-After": retry_after(5)})
    return RefitOut(version=result.version or service.router.posterior.version,
                    new_rows=result.new_rows, n_feedback=result.n_feedback,
                    seconds=round(result.seconds, 4), status=result.reason)
