"""The FastAPI application factory."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

import bandit_router
from bandit_router.api import errors, hotpath, observability, openapi
from bandit_router.api.edge import Edge
from bandit_router.api.ratelimit import RateLimiter
from bandit_router.api.routes import (
    admin,
    chat,
    decisions,
    feedback,
    health,
    models,
    route,
    rules,
    status,
    tenants,
)
from bandit_router.config import Settings
from bandit_router.jobs.observe import collect_gauges
from bandit_router.service import Service
from bandit_router.startup import settle_gc, settle_malloc


def create_app(settings: Settings | None = None, service: Service | None = None) -> FastAPI:
    """Build the app. Without ``service`` one is built from ``settings`` and started with it."""
    settle_malloc()  # before the service loads its models and arrays (startup.settle_malloc)
    settings = settings or (service.settings if service else Settings())
    owned = service is None

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        svc = app.state.service
        if owned:
            svc.start()
        # The process has started: what lives now lives as long as it (startup.settle_gc).
        settle_gc()
        if svc.scheduler is not None:
            svc.scheduler.add_job(collect_gauges, "interval", args=[svc], seconds=60,
                                  id="gauges", max_instances=1, coalesce=True,
                                  replace_existing=True)
        try:
            yield
        finally:
            if owned:
                svc.stop()

    # /docs and /redoc from Swagger UI and ReDoc files shipped in fastapi_offline: no CDN.
    app = FastAPIOffline(title="bandit-router", version=bandit_router.__version__,
                         lifespan=lifespan, favicon_url=None,
                         swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": True},
                         description="Online LLM routing with contextual bandits. Every `/v1` "
                                     "call needs `Authorization: Bearer <key>`: press "
                                     "**Authorize** and paste an app key or the operator key.")
    app.state.service = service or Service(settings)
    app.state.rate_limiter = (RateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst)
                              if settings.rate_limit_per_s else None)
    errors.install(app)
    openapi.install(app)
    # The hot endpoints first in the routing table: plain Starlette routes (api.hotpath,
    # chat.CHAT), matched before the included routers are searched.
    app.router.routes[:0] = [route.ROUTE, feedback.FEEDBACK, chat.CHAT]
    for module in (decisions, models, admin, health, tenants, status,
                   observability, rules):
        app.include_router(module.router)
    app.include_router(chat.router)
    app.add_middleware(Edge, max_body_bytes=settings.max_body_bytes,
                       body_timeout_s=settings.request_body_timeout_s,
                       max_requests_per_connection=settings.max_requests_per_connection)
    hotpath.install(app, [route.ROUTE, feedback.FEEDBACK])
    return app
