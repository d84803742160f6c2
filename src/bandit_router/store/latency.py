"""Per-model latency estimates from recent feedback and proxy measurements."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
from sqlalchemy import select, union_all
from sqlalchemy.orm import Session

from bandit_router.store.schema import DecisionRow, FeedbackRow, UsageRow


def recent_p95(session: Session, window_s: float, max_rows: int = 20_000) -> dict[str, float]:
    """p95 of ``latency_ms`` per model over the last ``window_s`` seconds."""
    since = datetime.now(timezone.utc) - timedelta(seconds=window_s)
    fb = (select(DecisionRow.model_id.label("model"), FeedbackRow.latency_ms.label("ms"),
                 FeedbackRow.received_at.label("at"))
          .join(DecisionRow, DecisionRow.id == FeedbackRow.decision_id)
          .where(FeedbackRow.received_at >= since, FeedbackRow.latency_ms.is_not(None)))
    us = (select(UsageRow.model_id.label("model"), UsageRow.latency_ms.label("ms"),
                 UsageRow.recorded_at.label("at"))
          .where(UsageRow.recorded_at >= since, UsageRow.latency_ms.is_not(None)))
    both = union_all(fb, us).subquery()
    q = select(both.c.model, both.c.ms).order_by(both.c.at.desc()).limit(max_rows)
    samples: dict[str, list[float]] = {}
    for model, ms in session.execute(q):
        samples.setdefault(model, []).append(ms)
    return {m: float(np.percentile(v, 95)) for m, v in samples.items()}
