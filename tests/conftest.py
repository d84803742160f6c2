"""Fixtures: a real PostgreSQL database per test (never mocked), SQLite files, running apps.

PostgreSQL is found at ``BR_TEST_PG_URL`` (default: the local server, user ``postgres``).
When it cannot be reached the Postgres tests FAIL with instructions; they never skip.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Callable, Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient

from bandit_router.api.app import create_app
from bandit_router.routing.catalog import ModelSpec
from bandit_router.config import Settings
from bandit_router.service import Service
from bandit_router.store import migrate
from bandit_router.store.db import make_engine

PG_SERVER = os.environ.get("BR_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432")
ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_MODELS = ROOT / "examples" / "models.toml"


def _pg_conn(dbname: str = "postgres") -> psycopg.Connection:
    try:
        return psycopg.connect(f"{PG_SERVER}/{dbname}", autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_SERVER} ({exc}). Start it, e.g. "
            "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`, "
            "or point BR_TEST_PG_URL at a server. Postgres tests never skip.",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated template database; each test copies it (fast) instead of migrating."""
    name = f"br_tpl_{uuid.uuid4().hex[:8]}"
    with _pg_conn() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    engine = make_engine(f"postgresql+psycopg://{PG_SERVER.split('://', 1)[1]}/{name}")
    migrate.upgrade(engine)
    engine.dispose()
    yield name
    with _pg_conn() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def empty_pg_engine() -> Iterator:
    """An engine on a new, empty PostgreSQL database (not migrated: for migration tests),
    dropped afterwards."""
    name = f"br_mig_{uuid.uuid4().hex[:8]}"
    with _pg_conn() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    engine = make_engine(f"postgresql+psycopg://{PG_SERVER.split('://', 1)[1]}/{name}")
    try:
        yield engine
    finally:
        engine.dispose()
        with _pg_conn() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url(pg_template) -> Iterator[str]:
    """SQLAlchemy URL of a fresh, migrated PostgreSQL database for this test."""
    name = f"br_test_{uuid.uuid4().hex[:10]}"
    with _pg_conn() as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    yield f"postgresql+psycopg://{PG_SERVER.split('://', 1)[1]}/{name}"
    with _pg_conn() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'bandit-router.db'}"


@pytest.fixture(params=["postgres", "sqlite"])
def db_url(request) -> str:
    """Runs the test once on PostgreSQL and once on the embedded SQLite default."""
    return request.getfixturevalue("pg_url" if request.param == "postgres" else "sqlite_url")


TWO_MODELS = [
    ModelSpec(id="model-a", input_price_per_mtok=1.0, output_price_per_mtok=2.0,
              context_window=100_000, tags=("a",)),
    ModelSpec(id="model-b", input_price_per_mtok=1.0, output_price_per_mtok=2.0,
              context_window=100_000, tags=("b",)),
]


@pytest.fixture
def make_service() -> Iterator[Callable[..., Service]]:
    """Build and start a Service on a URL with overrides; stopped at teardown."""
    started: list[Service] = []

    def factory(url: str, models: list[ModelSpec] | None = None, **overrides) -> Service:
        overrides.setdefault("scheduler", False)
        svc = Service(Settings(database_url=url, **overrides))
        svc.start()
        if models:
            svc.register_models(models)
        started.append(svc)
        return svc

    yield factory
    for svc in started:
        svc.stop()


class TableLock:
    """``LOCK TABLE <table> IN <mode> MODE`` held on a connection of its own until released."""

    def __init__(self, url: str, table: str = "decisions", mode: str = "EXCLUSIVE") -> None:
        self.conn = psycopg.connect(url.replace("postgresql+psycopg", "postgresql"))
        self.conn.execute(f"LOCK TABLE {table} IN {mode} MODE")

    def release(self) -> None:
        self.conn.rollback()
        self.conn.close()


OPERATOR_KEY = "test-operator-key-0123456789"
ADMIN = {"Authorization": f"Bearer {OPERATOR_KEY}"}


def new_tenant(client: TestClient, tenant_id: str, **extra) -> dict[str, str]:
    """Create a tenant and an app key; returns the key's Authorization header."""
    r = client.post("/v1/tenants", json={"id": tenant_id, "name": tenant_id.title(), **extra},
                    headers=ADMIN)
    assert r.status_code == 201, r.text
    key = client.post(f"/v1/tenants/{tenant_id}/keys", headers=ADMIN).json()["key"]
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def make_client(make_service) -> Iterator[Callable[..., TestClient]]:
    """An app on a started service. Its default headers carry the app key of tenant "acme";
    operator calls pass ``headers=ADMIN``."""
    clients: list[TestClient] = []

    def factory(url: str, models: list[ModelSpec] | None = None, **overrides) -> TestClient:
        overrides.setdefault("admin_key", OPERATOR_KEY)
        svc = make_service(url, models, **overrides)
        client = TestClient(create_app(service=svc), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        client.headers.update(new_tenant(client, "acme"))
        return client

    yield factory
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def client(make_client, db_url) -> TestClient:
    """An app on a fresh database (Postgres and SQLite) with two equal-priced models."""
    return make_client(db_url, TWO_MODELS)


def route(client: TestClient, prompt: str = "hello", **body) -> dict:
    r = client.post("/v1/route", json={"prompt": prompt, **body})
    assert r.status_code == 200, r.text
    return r.json()
