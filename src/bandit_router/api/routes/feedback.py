"""POST /v1/feedback — the outcome of a decision. A 2xx means the row is committed."""

from __future__ import annotations

from fastapi import APIRouter, Response

from bandit_router.api.deps import SessionDep
from bandit_router.api.schemas import FeedbackIn, FeedbackOut
from bandit_router.store.decisions import Outcome, record_feedback

router = APIRouter(tags=["routing"])


@router.post("/v1/feedback", response_model=FeedbackOut, status_code=201,
             responses={200: {"description": "identical repeat; nothing new stored"},
                        404: {"description": "unknown decision"},
                        409: {"description": "feedback already recorded with other values"}})
def feedback(body: FeedbackIn, session: SessionDep, response: Response) -> FeedbackOut:
    outcome = Outcome(**body.model_dump(exclude={"decision_id"}))
    with session.begin():
        row, created = record_feedback(session, body.decision_id, outcome)
    # The transaction is committed here: only now may we acknowledge.
    response.status_code = 201 if created else 200
    return FeedbackOut(decision_id=body.decision_id, status="recorded" if created else "duplicate",
                       feedback_id=row.id)
