"""Stored posterior versions and the logged rows a refit learns from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterator, Sequence

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bandit_router.store.codec import decode_many
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


def fitted_on(row: PosteriorRow, features: str, dim: int) -> bool:
    """Whether the stored version ``row`` was fitted on features ``features`` (a
    ``FeatureSpec.name``) of size ``dim``. Versions stored before they recorded it (NULL)
    were fitted on the hashed features of their size, the only kind there was."""
    if row.feature_dim != dim:
        return False
    return (row.feature_spec == features if row.feature_spec is not None
            else features.startswith("hashed-"))


def record_posterior(
    session: Session, *, policy: str, feature_dim: int, feature_spec: str, watermark: int,
    n_feedback: int, fit_seconds: float, payload: bytes,
) -> int:
    row = PosteriorRow(created_at=datetime.now(timezone.utc), policy=policy,
                       feature_dim=feature_dim, feature_spec=feature_spec, watermark=watermark,
                       n_feedback=n_feedback, fit_seconds=fit_seconds, payload=payload)
    session.add(row)
    session.flush()
    return int(row.version)


def feedback_high_water_mark(session: Session) -> int:
    """Largest feedback id such that every row at or below it is committed (see locks.py)."""
    exclusive_xact_lock(session, FEEDBACK_LOCK)
    return int(session.scalar(select(func.coalesce(func.max(FeedbackRow.id), 0))))


def oldest_unlearned_feedback(session: Session, watermark: int) -> datetime | None:
    """When the oldest feedback row above ``watermark`` (not yet in a posterior that has
    learned up to it) was received; None when there is none. One index lookup."""
    received = session.scalar(select(FeedbackRow.received_at).where(FeedbackRow.id > watermark)
                              .order_by(FeedbackRow.id).limit(1))
    if received is not None and received.tzinfo is None:  # SQLite keeps no time zone
        received = received.replace(tzinfo=timezone.utc)
    return received


@dataclass
class TrainingBatch:
    """Logged feedback joined to its decisions, ready for ``SufficientStats.update``."""

    last_id: int
    models: list[str]
    X: np.ndarray
    reward: np.ndarray
    received_at: np.ndarray  # epoch seconds
    skipped: int  # rows whose features were logged with another feature size
    # The decision's price estimate and what the call was charged (USD; NaN: not settled).
    estimate: np.ndarray | None = None
    charged: np.ndarray | None = None


_TRAINING_SQL = (
    "SELECT f.id, d.model_id, d.features, f.reward, "
    "extract(epoch FROM f.received_at)::float8, d.estimated_cost_usd, f.charged_usd "
    "FROM feedback f JOIN decisions d ON d.id = f.decision_id "
    "WHERE f.id > %s AND f.id <= %s ORDER BY f.id"
)


def learned_rewards(rewards: Sequence[float | None]) -> np.ndarray:
    """What the policy learns from feedback rows: each one's reward, or NaN (nothing) when it
    has none. Feedback with an ``error`` and no reward says that no answer came (a missing
    credential, a connection refused, a timeout, an upstream 5xx or 429): that says nothing
    about how good the model's answers are, so it is not learned as a low reward; it counts
    in the error metrics and, in the proxy, in the model's circuit breaker. The refit and the
    off-policy evaluation both read rewards through this one rule."""
    return np.array([np.nan if r is None else r for r in rewards], dtype=float)


def training_batches(
    session: Session, after_id: int, up_to_id: int, dim: int, chunk: int = 20_000,
) -> Iterator[TrainingBatch]:
    """Stream feedback rows with ``after_id < id ≤ up_to_id`` in chunks, oldest first; rows
    without a reward are left out (:func:`learned_rewards`).

    Rows come from a server-side cursor (constant memory; on Postgres in binary format, so
    feature blobs arrive as bytes, not hex text) and each chunk's blobs are decoded together
    (:func:`decode_many`): a chunk costs a few vectorised operations, not a loop per row.
    """
    for part in _training_rows(session, after_id, up_to_id, chunk):
        _, models, blobs, rewards, times, estimates, charges = zip(*part)
        X, ok = decode_many(blobs, dim)
        reward = learned_rewards(rewards)
        keep = ok & ~np.isnan(reward)
        sel = np.flatnonzero(keep)
        yield TrainingBatch(
            last_id=int(part[-1][0]), models=[models[i] for i in sel],
            X=X if len(sel) == len(X) else X[sel], reward=reward[sel],
            received_at=np.array(times, dtype=float)[sel], skipped=int((~ok).sum()),
            estimate=_prices(estimates)[sel], charged=_prices(charges)[sel],
        )


def _prices(values: Sequence[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _training_rows(session: Session, after_id: int, up_to_id: int, chunk: int):
    """Chunks of (id, model, features, reward, received_at epoch, estimated cost, charged
    cost) tuples."""
    if session.get_bind().dialect.name == "postgresql":
        raw = session.connection().connection.driver_connection
        with raw.cursor(name="bandit_router_training", binary=True) as cur:
            cur.itersize = chunk
            cur.execute(_TRAINING_SQL, (after_id, up_to_id))
            while rows := cur.fetchmany(chunk):
                yield rows
        return
    q = (
        select(FeedbackRow.id, DecisionRow.model_id, DecisionRow.features, FeedbackRow.reward,
               FeedbackRow.received_at, DecisionRow.estimated_cost_usd, FeedbackRow.charged_usd)
        .join(DecisionRow, DecisionRow.id == FeedbackRow.decision_id)
        .where(FeedbackRow.id > after_id, FeedbackRow.id <= up_to_id)
        .order_by(FeedbackRow.id)
        .execution_options(yield_per=chunk)
    )
    for part in session.execute(q).partitions(chunk):
        yield [(i, m, f, r, _epoch(t), e, c) for i, m, f, r, t, e, c in part]


def _epoch(ts: datetime) -> float:
    if ts.tzinfo is None:  # SQLite returns naive datetimes; we always store UTC
        ts = ts.replace(tzinfo=timezone.utc)
    return ts.timestamp()
