"""Apply the Alembic migrations in ``migrations/`` (shipped inside the wheel as ``_migrations``)."""

from __future__ import annotations

import logging
from pathlib import Path

# Alembic announces each of its plugins at INFO when it is imported: noise on every start.
logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

from alembic import command  # noqa: E402
from alembic.config import Config  # noqa: E402
from sqlalchemy import Engine

import bandit_router
from bandit_router.store.locks import MIGRATION_LOCK, exclusive_xact_lock


def migrations_dir() -> Path:
    pkg = Path(bandit_router.__file__).resolve().parent
    for candidate in (pkg / "_migrations", pkg.parents[1] / "migrations"):
        if (candidate / "env.py").exists():
            return candidate
    raise FileNotFoundError("the Alembic migrations directory is missing from this installation")


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database behind ``engine`` to ``revision``; safe to run on every start."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    with engine.begin() as conn:
        exclusive_xact_lock(conn, MIGRATION_LOCK)  # one migrator at a time across replicas
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
