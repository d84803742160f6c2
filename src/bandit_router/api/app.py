"""The FastAPI application factory."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

import bandit_router
from bandit_router.api import errors
from bandit_router.api.limits import BodySizeLimit
from bandit_router.api.routes import admin, feedback, health, models, route, tenants
from bandit_router.config import Settings
from bandit_router.proxy.api import router as proxy_router
from bandit_router.service import Service


def create_app(settings: Settings | None = None, service: Service | None = None) -> FastAPI:
    """Build the app. Without ``service`` one is built from ``settings`` and started with it."""
    settings = settings or (service.settings if service else Settings())
    owned = service is None

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        svc = app.state.service
        if owned:
            svc.start()
        try:
            yield
        finally:
            if owned:
                svc.stop()

    app = FastAPI(title="bandit-router", version=bandit_router.__version__, lifespan=lifespan,
                  description="Online LLM routing with contextual bandits.")
    app.state.service = service or Service(settings)
    errors.install(app)
    for module in (route, feedback, models, admin, health, tenants):
        app.include_router(module.router)
    app.include_router(proxy_router)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    return app
