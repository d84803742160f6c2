"""The operator's status page (``/``) and the JSON it draws (``/v1/status``)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from importlib import resources
from typing import Any

import numpy as np
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from bandit_router.api.deps import AdminDep, ServiceDep, SessionDep
from bandit_router.store.activity import count_decisions, recent_activity

router = APIRouter(tags=["observability"])
N_BUCKETS = 24
# The page reads at most this many of the newest decisions; beyond it the per-model figures
# describe that newest sample, and the response says so.
ROW_LIMIT = 100_000
# The charts span the smallest of these that holds the window's oldest decision (at most the
# ``hours`` asked for), so a new deployment's first minutes are lines, not one dot at "now".
SPANS_S = (120, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86_400, 3 * 86_400,
           7 * 86_400, 31 * 86_400)


def chart_span_s(age_s: float | None, max_s: float) -> float:
    """The time span of the charts: the smallest of :data:`SPANS_S` covering data this old
    (the smallest when there is none), never more than ``max_s``."""
    fits = [s for s in SPANS_S if age_s is None or s >= age_s]
    return min(fits[0] if fits else max_s, max_s)


def span_label(seconds: float) -> str:
    for unit, size in (("d", 86_400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size:g} {unit}"
    return f"{seconds:g} s"


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
def status(_: AdminDep, service: ServiceDep, session: SessionDep, request: Request,
           hours: float = Query(6.0, gt=0, le=24 * 31)) -> dict[str, Any]:
    """Per model over the last ``hours`` (or less, when the data is younger: the charts span
    ``window_s``): traffic share, mean reward, p95 latency, spend and failed tries, in total
    and in 24 time buckets; and each model's circuit breaker in this process."""
    now = datetime.now(timezone.utc)
    act = recent_activity(session, now - timedelta(hours=hours), limit=ROW_LIMIT)
    window_s = chart_span_s(now.timestamp() - act.at.min() if len(act.at) else None,
                            hours * 3600)
    since = now - timedelta(seconds=window_s)
    act = act.since(since.timestamp())
    total = len(act.at) if len(act.at) < ROW_LIMIT else count_decisions(session, since)
    start = now.timestamp() - window_s
    width = window_s / N_BUCKETS
    bucket = np.clip(((act.at - start) // width).astype(int), 0, N_BUCKETS - 1)
    per_bucket = np.bincount(bucket, minlength=N_BUCKETS)
    models = sorted(set(act.model) | set(service.router.models))
    proxy = getattr(request.app.state, "proxy", None)
    breakers = proxy.breakers if proxy is not None else None
    out = []
    for m in models:
        sel = act.model == m
        series = {"share": [], "reward": [], "p95_latency_ms": [], "spend_usd": [],
                  "failures": []}
        for b in range(N_BUCKETS):
            sb = sel & (bucket == b)
            series["share"].append(round(int(sb.sum()) / per_bucket[b], 4) if per_bucket[b]
                                   else None)
            series["reward"].append(_mean(act.reward[sb]))
            series["p95_latency_ms"].append(_p95(act.latency_ms[sb]))
            series["spend_usd"].append(round(float(act.cost_usd[sb].sum()), 6))
            series["failures"].append(int(act.failed[sb].sum()))
        out.append({
            "id": m,
            "registered": m in service.router.models,
            "decisions": int(sel.sum()),
            "share": round(float(sel.mean()), 4) if len(act.at) else 0.0,
            "mean_reward": _mean(act.reward[sel]),
            "p95_latency_ms": _p95(act.latency_ms[sel]),
            "spend_usd": round(float(act.cost_usd[sel].sum()), 6),
            "failures": int(act.failed[sel].sum()),
            "circuit": (breakers.describe(m) if breakers is not None and m in service.router.models
                        and service.router.models[m].base_url else None),
            "series": series,
        })
    posterior = service.router.posterior
    return {
        "generated_at": now.isoformat(),
        "hours": hours,
        "window_s": window_s,
        "window": span_label(window_s),
        "bucket_starts": [start + i * width for i in range(N_BUCKETS)],
        # Cooldowns of this process's circuit breakers that overlap the window.
        "cooldowns": [{"model": m, "start": a, "end": b}
                      for m, a, b in (list(breakers.cooldowns) if breakers is not None else [])
                      if b >= start],
        "decisions": int(total),
        # When not every decision of the window was read: how many (the newest) were.
        "sampled_decisions": int(len(act.at)) if total > len(act.at) else None,
        "with_feedback": int(act.has_feedback.sum()),
        "policy": {"name": service.router.policy.name, "version": posterior.version,
                   "age_s": round(max(time.time() - posterior.stats.t, 0.0), 1)},
        "models": out,
    }
