"""The model line-up in the database: registered, updated and retired at run time."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from bandit_router.routing.catalog import ModelSpec
from bandit_router.store.errors import NotFound
from bandit_router.store.schema import ModelRow

_COLUMNS = ("provider", "input_price_per_mtok", "output_price_per_mtok", "context_window",
            "base_url", "api_key_env", "upstream_model", "typical_latency_ms")


def to_spec(row: ModelRow) -> ModelSpec:
    return ModelSpec(id=row.id, tags=tuple(row.tags or ()),
                     **{c: getattr(row, c) for c in _COLUMNS})


def record_model(session: Session, spec: ModelSpec) -> bool:
    """Insert or update ``spec`` and enable it. Returns True when the id was new."""
    now = datetime.now(timezone.utc)
    row = session.get(ModelRow, spec.id)
    created = row is None
    if created:
        row = ModelRow(id=spec.id, created_at=now)
        session.add(row)
    for c in _COLUMNS:
        setattr(row, c, getattr(spec, c))
    row.tags = list(spec.tags)
    row.enabled = True
    row.updated_at = now
    return created


def retire_model(session: Session, model_id: str) -> None:
    """Stop routing to a model; its decisions and feedback stay for analysis."""
    row = session.get(ModelRow, model_id)
    if row is None or not row.enabled:
        raise NotFound(f"model {model_id!r} is not registered")
    row.enabled = False
    row.updated_at = datetime.now(timezone.utc)


def list_models(session: Session, include_retired: bool = False) -> list[ModelRow]:
    q = select(ModelRow).order_by(ModelRow.id)
    if not include_retired:
        q = q.where(ModelRow.enabled.is_(True))
    return list(session.scalars(q))


def get_model(session: Session, model_id: str) -> ModelRow:
    row = session.get(ModelRow, model_id)
    if row is None or not row.enabled:
        raise NotFound(f"model {model_id!r} is not registered")
    return row
