"""Per-model latency estimates from recent feedback and proxy measurements."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
from sqlalchemy import func, select, union_all
from sqlalchemy.orm import Session

from bandit_router.store.schema import FeedbackRow, UsageRow


def recent_p95(session: Session, window_s: float, max_rows: int = 20_000) -> dict[str, float]:
    """p95 of ``latency_ms`` per model over the last ``window_s`` seconds.

    Uses at most the ``max_rows`` newest feedback rows and as many proxy measurements, so the
    cost does not grow with traffic: both are read newest first by their time index, and
    neither touches the decision log (a feedback row carries its decision's model since
    migration 0009; the join it replaced made Postgres scan the day's decisions partition on
    every read). Postgres computes the percentile itself (``percentile_cont``); SQLite, which
    lacks it, sends the bounded sample to numpy.
    """
    since = datetime.now(timezone.utc) - timedelta(seconds=window_s)
    newest_fb = (select(FeedbackRow.model_id.label("model"), FeedbackRow.latency_ms.label("ms"))
                 .where(FeedbackRow.received_at >= since, FeedbackRow.latency_ms.is_not(None),
                        FeedbackRow.model_id.is_not(None))
                 .order_by(FeedbackRow.received_at.desc()).limit(max_rows).subquery())
    newest_us = (select(UsageRow.model_id.label("model"), UsageRow.latency_ms.label("ms"))
                 .where(UsageRow.recorded_at >= since, UsageRow.latency_ms.is_not(None))
                 .order_by(UsageRow.recorded_at.desc()).limit(max_rows).subquery())
    both = union_all(select(newest_fb.c.model, newest_fb.c.ms),
                     select(newest_us.c.model, newest_us.c.ms)).subquery()
    if session.get_bind().dialect.name == "postgresql":
        q = (select(both.c.model, func.percentile_cont(0.95).within_group(both.c.ms))
             .group_by(both.c.model))
        return {m: float(v) for m, v in session.execute(q)}
    samples: dict[str, list[float]] = {}
    for model, ms in session.execute(select(both.c.model, both.c.ms)):
        samples.setdefault(model, []).append(ms)
    return {m: float(np.percentile(v, 95)) for m, v in samples.items()}
