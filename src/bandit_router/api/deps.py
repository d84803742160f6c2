"""FastAPI dependencies: the process's service, a database session, and who is calling."""

from __future__ import annotations

from typing import Annotated, Iterator

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session

from bandit_router.api.ratelimit import RateLimiter
from bandit_router.service import Service
from bandit_router.store.tenants import Principal


async def get_service(request: Request) -> Service:
    # async: FastAPI runs a plain ``def`` dependency in the thread pool, a hop per request.
    return request.app.state.service


def get_session(service: Annotated[Service, Depends(get_service)]) -> Iterator[Session]:
    with service.sessions() as session:
        yield session


ServiceDep = Annotated[Service, Depends(get_service)]
SessionDep = Annotated[Session, Depends(get_session)]

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


async def principal_of_header(header: str | None, service: Service,
                              limiter: RateLimiter | None) -> Principal:
    """Who sends ``Authorization: <header>``, after the key's rate limit; else HTTPException."""
    if not header:
        raise HTTPException(401, "missing `Authorization: Bearer <key>` header", _CHALLENGE)
    scheme, _, secret = header.partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret or len(secret) > 200:
        raise HTTPException(401, "the Authorization header must be `Bearer <key>`", _CHALLENGE)
    principal = await service.authenticate(secret)
    if principal is None:
        raise HTTPException(401, "invalid or revoked API key", _CHALLENGE)
    if limiter is not None:
        limiter.enforce(principal.key_id or "operator")
    return principal


async def get_principal(request: Request, service: ServiceDep) -> Principal:
    return await principal_of_header(request.headers.get("authorization"), service,
                                     request.app.state.rate_limiter)


async def require_admin(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    if principal.role != "admin":
        raise HTTPException(403, "this endpoint needs the operator key (BANDIT_ROUTER_ADMIN_KEY)")
    return principal


def check_tenant_access(principal: Principal, tenant_id: str) -> None:
    """Operators see every tenant; an app key sees only its own (others look absent)."""
    if principal.role != "admin" and principal.tenant_id != tenant_id:
        raise HTTPException(404, f"tenant {tenant_id!r} does not exist")


CallerDep = Annotated[Principal, Depends(get_principal)]
AdminDep = Annotated[Principal, Depends(require_admin)]
