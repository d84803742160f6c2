"""GET/PUT/DELETE /v1/models — the line-up, changed at run time."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response

from bandit_router.service import routing_config
from bandit_router.api.deps import AdminDep, CallerDep, ServiceDep, SessionDep
from bandit_router.api.schemas import ModelIn, ModelOut, ModelPatch
from bandit_router.routing.catalog import CatalogError, with_changes
from bandit_router.store.models import (get_model, list_models, record_model, retire_model,
                                        to_spec)

router = APIRouter(tags=["models"])

ModelPath = Annotated[str, Path(min_length=1, max_length=200,
                                pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$")]


def _out(row, service) -> ModelOut:
    stats = service.router.posterior.stats
    obs = float(stats.n[stats.arms.index(row.id)]) if row.id in stats.arms else 0.0
    return ModelOut.of(to_spec(row), round(obs, 3))


@router.get("/v1/models")
def get_models(_: CallerDep, service: ServiceDep, session: SessionDep) -> dict[str, list[ModelOut]]:
    return {"models": [_out(r, service) for r in list_models(session)]}


@router.get("/v1/models/{model_id:path}", response_model=ModelOut)
def get_one(model_id: ModelPath, _: CallerDep, service: ServiceDep, session: SessionDep) -> ModelOut:
    return _out(get_model(session, model_id), service)


@router.put("/v1/models/{model_id:path}", response_model=ModelOut, status_code=200,
            responses={201: {"description": "model registered"}})
def put_model(model_id: ModelPath, body: ModelIn, _: AdminDep, service: ServiceDep,
              session: SessionDep, response: Response) -> ModelOut:
    """Register a model, or replace a registered one **as a whole**: an optional field left
    out (`provider`, `base_url`, `tags`, …) is cleared. To change some fields and keep the
    others, use `PATCH /v1/models/{id}`."""
    spec = service.checked_model(body.spec(model_id))
    with session.begin():
        routing_config.check_lineup(session, f"putting model {model_id!r} with tags "
                                    f"{list(spec.tags)}", spec=spec)
        created = record_model(session, spec)
    service.sync_models()
    response.status_code = 201 if created else 200
    return _out(get_model(session, model_id), service)


@router.patch("/v1/models/{model_id:path}", response_model=ModelOut,
              responses={404: {"description": "no such model is registered"}})
def patch_model(model_id: ModelPath, body: ModelPatch, _: AdminDep, service: ServiceDep,
                session: SessionDep) -> ModelOut:
    """Change only the fields given (`null` clears an optional one); the others keep their
    values."""
    with session.begin():
        try:
            spec = service.checked_model(with_changes(to_spec(get_model(session, model_id)),
                                                      body.model_dump(exclude_unset=True)))
        except CatalogError as exc:
            raise HTTPException(422, str(exc)) from None
        routing_config.check_lineup(session, f"changing model {model_id!r}", spec=spec)
        record_model(session, spec)
    service.sync_models()
    return _out(get_model(session, model_id), service)


@router.delete("/v1/models/{model_id:path}", status_code=204, responses={409: {
    "description": "a rule or cascade names the model (the message says which)"}})
def delete_model(model_id: ModelPath, _: AdminDep, service: ServiceDep, session: SessionDep) -> Response:
    """Stop routing to a model. Refused with 409 while a rule or cascade names it (or a
    rule names a tag only it carries): change those first."""
    with session.begin():
        get_model(session, model_id)  # 404 before 409
        routing_config.check_lineup(session, f"deleting model {model_id!r}", remove=model_id)
        retire_model(session, model_id)
    service.sync_models()
    return Response(status_code=204)
