"""Tenants, their API keys and budget settings."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import NamedTuple

import psycopg
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from bandit_router.store.db import prepares, raw_connection
from bandit_router.store.errors import Conflict, NotFound
from bandit_router.store.schema import ApiKeyRow, TenantRow

KEY_PREFIX = "br_"


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class IssuedKey:
    id: str
    secret: str  # shown once; only its hash is stored
    tenant_id: str | None
    role: str


@dataclass(frozen=True)
class Principal:
    """Who is calling: an operator (``admin``) or an app of one tenant."""

    role: str
    tenant_id: str | None
    key_id: str | None


def create_tenant(session: Session, tenant_id: str | None, name: str) -> TenantRow:
    now = datetime.now(timezone.utc)
    row = TenantRow(id=tenant_id or f"t_{secrets.token_hex(6)}", name=name, created_at=now,
                    updated_at=now)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        raise Conflict(f"tenant {row.id!r} already exists") from None
    return row


def get_tenant(session: Session, tenant_id: str) -> TenantRow:
    row = session.get(TenantRow, tenant_id)
    if row is None:
        raise NotFound(f"tenant {tenant_id!r} does not exist")
    return row


def list_tenants(session: Session) -> list[TenantRow]:
    return list(session.scalars(select(TenantRow).order_by(TenantRow.id)))


def issue_key(session: Session, tenant_id: str | None, role: str = "app",
              name: str | None = None) -> IssuedKey:
    if tenant_id is not None:
        get_tenant(session, tenant_id)
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKeyRow(id=f"key_{secrets.token_hex(8)}", tenant_id=tenant_id, role=role,
                    key_hash=hash_key(secret), prefix=secret[:10], name=name,
                    created_at=datetime.now(timezone.utc))
    session.add(row)
    session.flush()
    return IssuedKey(row.id, secret, tenant_id, role)


def revoke_key(session: Session, key_id: str) -> ApiKeyRow:
    row = session.get(ApiKeyRow, key_id)
    if row is None or row.revoked_at is not None:
        raise NotFound(f"key {key_id!r} does not exist or is already revoked")
    row.revoked_at = datetime.now(timezone.utc)
    return row


def list_keys(session: Session, tenant_id: str) -> list[ApiKeyRow]:
    return list(session.scalars(select(ApiKeyRow).where(ApiKeyRow.tenant_id == tenant_id)
                                .order_by(ApiKeyRow.created_at)))


def has_operator_key(session: Session) -> bool:
    q = select(ApiKeyRow.id).where(ApiKeyRow.role == "admin", ApiKeyRow.revoked_at.is_(None))
    return session.scalar(q.limit(1)) is not None


KEY_SQL = "SELECT id, role, tenant_id, key_hash, revoked_at FROM api_keys WHERE key_hash = %s"


class KeyRow(NamedTuple):
    id: str
    role: str
    tenant_id: str | None
    key_hash: str
    revoked_at: datetime | None


def key_row(engine: Engine, digest: str) -> KeyRow | None:
    """The stored key with this hash, or None.

    Runs once per request, so on Postgres it is one prepared statement (``KEY_SQL``) in
    autocommit mode on a pooled connection: one round trip (no BEGIN, no ROLLBACK), no ORM.
    """
    if engine.dialect.name == "postgresql":
        try:
            with raw_connection(engine) as raw:
                raw.autocommit = True
                found = raw.execute(KEY_SQL, (digest,), prepare=prepares(raw)).fetchone()
                raw.autocommit = False
        except psycopg.Error as exc:  # the callers handle SQLAlchemy's errors
            raise OperationalError("api key lookup", None, exc) from exc
    else:
        with engine.connect() as conn:
            found = conn.execute(select(ApiKeyRow.id, ApiKeyRow.role, ApiKeyRow.tenant_id,
                                        ApiKeyRow.key_hash, ApiKeyRow.revoked_at)
                                 .where(ApiKeyRow.key_hash == digest)).first()
    return KeyRow(*found) if found is not None else None


def principal_of(row: KeyRow | None, digest: str) -> Principal | None:
    """The principal of a looked-up key, or None when it is unknown or revoked."""
    # The lookup is by hash; compare again in constant time so that no early exit leaks.
    if row is None or not hmac.compare_digest(row.key_hash, digest) or row.revoked_at is not None:
        return None
    return Principal(role=row.role, tenant_id=row.tenant_id, key_id=row.id)


def set_budget(session: Session, tenant_id: str, period: str | None, limit_usd: float | None,
               on_exhausted: str | None) -> TenantRow:
    row = get_tenant(session, tenant_id)
    row.budget_period, row.budget_limit_usd, row.budget_on_exhausted = period, limit_usd, on_exhausted
    row.updated_at = datetime.now(timezone.utc)
    return row


def set_trust_reported_cost(session: Session, tenant_id: str, trusted: bool) -> TenantRow:
    row = get_tenant(session, tenant_id)
    row.trust_reported_cost = trusted
    row.updated_at = datetime.now(timezone.utc)
    return row


def set_latency_sla(session: Session, tenant_id: str, p95_latency_ms: float | None) -> TenantRow:
    row = get_tenant(session, tenant_id)
    row.p95_latency_ms = p95_latency_ms
    row.updated_at = datetime.now(timezone.utc)
    return row
