"""Plain records the store answers with, free of SQLAlchemy: the API's schemas (and so the
client, which reuses them) can name them without importing the database layer."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelUsage:  # one model's line of a tenant's usage in a period (spend.ledger)
    # No docstring: pydantic would publish it in the OpenAPI schema of the usage answer.
    model: str
    decisions: int
    with_feedback: int
    mean_reward: float | None
    spent_usd: float
    pending_usd: float
