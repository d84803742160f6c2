"""Stored posterior versions and the logged rows a refit learns from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterator

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bandit_router.store.codec import decode_features, feature_dim
from bandit_router.store.locks import FEEDBACK_LOCK, exclusive_xact_lock
from bandit_router.store.schema import DecisionRow, FeedbackRow, PosteriorRow


def latest_version(session: Session) -> int | None:
    return session.scalar(select(func.max(PosteriorRow.version)))


def load_posterior(session: Session, version: int | None = None) -> PosteriorRow | None:
    if version is None:
        version = latest_version(session)
        if version is None:
            return None
    return session.get(PosteriorRow, version)


def record_posterior(
    session: Session, *, policy: str, feature_dim: int, watermark: int, n_feedback: int,
    fit_seconds: float, payload: bytes,
) -> int:
    row = PosteriorRow(created_at=datetime.now(timezone.utc), policy=policy,
                       feature_dim=feature_dim, watermark=watermark, n_feedback=n_feedback,
                       fit_seconds=fit_seconds, payload=payload)
    session.add(row)
    session.flush()
    return int(row.version)


def feedback_high_water_mark(session: Session) -> int:
    """Largest feedback id such that every row at or below it is committed (see locks.py)."""
    exclusive_xact_lock(session, FEEDBACK_LOCK)
    return int(session.scalar(select(func.coalesce(func.max(FeedbackRow.id), 0))))


@dataclass
class TrainingBatch:
    """Logged feedback joined to its decisions, ready for ``SufficientStats.update``."""

    last_id: int
    models: list[str]
    X: np.ndarray
    reward: np.ndarray
    received_at: np.ndarray  # epoch seconds
    skipped: int  # rows whose features were logged with another feature size


def training_batches(
    session: Session, after_id: int, up_to_id: int, dim: int, error_reward: float,
    chunk: int = 20_000,
) -> Iterator[TrainingBatch]:
    """Stream feedback rows with ``after_id < id ≤ up_to_id`` in chunks, oldest first."""
    q = (
        select(FeedbackRow.id, DecisionRow.model_id, DecisionRow.features, FeedbackRow.reward,
               FeedbackRow.error, FeedbackRow.received_at)
        .join(DecisionRow, DecisionRow.id == FeedbackRow.decision_id)
        .where(FeedbackRow.id > after_id, FeedbackRow.id <= up_to_id)
        .order_by(FeedbackRow.id)
        .execution_options(yield_per=chunk)
    )
    result = session.execute(q)
    for part in result.partitions(chunk):
        models, xs, rewards, times, skipped = [], [], [], [], 0
        for fid, model_id, blob, reward, error, received_at in part:
            if feature_dim(blob) != dim:
                skipped += 1
                continue
            if reward is None:
                if error is None:
                    continue
                reward = error_reward
            models.append(model_id)
            xs.append(decode_features(blob))
            rewards.append(reward)
            times.append(_epoch(received_at))
        yield TrainingBatch(
            last_id=int(part[-1][0]), models=models,
            X=np.array(xs).reshape(len(xs), dim), reward=np.array(rewards, dtype=float),
            received_at=np.array(times, dtype=float), skipped=skipped,
        )


def _epoch(ts: datetime) -> float:
    if ts.tzinfo is None:  # SQLite returns naive datetimes; we always store UTC
        ts = ts.replace(tzinfo=timezone.utc)
    return ts.timestamp()
