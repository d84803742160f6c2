"""The operator's status page (``/``) and the JSON it draws (``/v1/status``)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from importlib import resources
from typing import Any

import numpy as np
from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from bandit_router.api.deps import AdminDep, ServiceDep, SessionDep
from bandit_router.store.activity import count_decisions, recent_activity

router = APIRouter(tags=["observability"])
N_BUCKETS = 24
# The page reads at most this many of the newest decisions; beyond it the per-model figures
# describe that newest sample, and the response says so.
ROW_LIMIT = 100_000


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def status_page() -> HTMLResponse:
    page = resources.files("bandit_router.api").joinpath("static/status.html").read_text()
    return HTMLResponse(page, headers={
        "Content-Security-Policy": "default-src 'self'; script-src 'unsafe-inline' 'self'; "
                                   "style-src 'unsafe-inline'; img-src data:",
        "Cache-Control": "no-store"})


def _p95(values: np.ndarray) -> float | None:
    values = values[~np.isnan(values)]
    return round(float(np.percentile(values, 95)), 1) if len(values) else None


def _mean(values: np.ndarray) -> float | None:
    values = values[~np.isnan(values)]
    return round(float(values.mean()), 4) if len(values) else None


@router.get("/v1/status")
def status(_: AdminDep, service: ServiceDep, session: SessionDep,
           hours: float = Query(6.0, gt=0, le=24 * 31)) -> dict[str, Any]:
    """Per model over the last ``hours``: traffic share, mean reward, p95 latency and spend,
    in total and in 24 time buckets."""
    now = datetime.now(timezone.utc)
    since = now - timedelta(hours=hours)
    act = recent_activity(session, since, limit=ROW_LIMIT)
    total = len(act.at) if len(act.at) < ROW_LIMIT else count_decisions(session, since)
    start = now.timestamp() - hours * 3600
    width = hours * 3600 / N_BUCKETS
    bucket = np.clip(((act.at - start) // width).astype(int), 0, N_BUCKETS - 1)
    per_bucket = np.bincount(bucket, minlength=N_BUCKETS)
    models = sorted(set(act.model) | set(service.router.models))
    out = []
    for m in models:
        sel = act.model == m
        series = {"share": [], "reward": [], "p95_latency_ms": [], "spend_usd": []}
        for b in range(N_BUCKETS):
            sb = sel & (bucket == b)
            series["share"].append(round(int(sb.sum()) / per_bucket[b], 4) if per_bucket[b]
                                   else None)
            series["reward"].append(_mean(act.reward[sb]))
            series["p95_latency_ms"].append(_p95(act.latency_ms[sb]))
            series["spend_usd"].append(round(float(act.cost_usd[sb].sum()), 6))
        out.append({
            "id": m,
            "registered": m in service.router.models,
            "decisions": int(sel.sum()),
            "share": round(float(sel.mean()), 4) if len(act.at) else 0.0,
            "mean_reward": _mean(act.reward[sel]),
            "p95_latency_ms": _p95(act.latency_ms[sel]),
            "spend_usd": round(float(act.cost_usd[sel].sum()), 6),
            "series": series,
        })
    posterior = service.router.posterior
    return {
        "generated_at": now.isoformat(),
        "hours": hours,
        "bucket_starts": [start + i * width for i in range(N_BUCKETS)],
        "decisions": int(total),
        # When not every decision of the window was read: how many (the newest) were.
        "sampled_decisions": int(len(act.at)) if total > len(act.at) else None,
        "with_feedback": int(act.has_feedback.sum()),
        "policy": {"name": service.router.policy.name, "version": posterior.version,
                   "age_s": round(max(time.time() - posterior.stats.t, 0.0), 1)},
        "models": out,
    }
