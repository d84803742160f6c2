"""SQLAlchemy 2 tables. The same schema runs on SQLite and PostgreSQL (see ``migrations/``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only auto-increments INTEGER PRIMARY KEY columns.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class ModelRow(Base):
    __tablename__ = "models"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    provider: Mapped[str | None] = mapped_column(String(100))
    input_price_per_mtok: Mapped[float] = mapped_column(Float)
    output_price_per_mtok: Mapped[float] = mapped_column(Float)
    context_window: Mapped[int] = mapped_column(Integer)
    tags: Mapped[list] = mapped_column(JSON, default=list)
    base_url: Mapped[str | None] = mapped_column(String(2000))
    api_key_env: Mapped[str | None] = mapped_column(String(200))
    upstream_model: Mapped[str | None] = mapped_column(String(200))
    typical_latency_ms: Mapped[float | None] = mapped_column(Float)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DecisionRow(Base):
    __tablename__ = "decisions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    model_id: Mapped[str] = mapped_column(String(200))
    propensity: Mapped[float] = mapped_column(Float)
    policy: Mapped[str] = mapped_column(String(32))
    policy_version: Mapped[int] = mapped_column(Integer)
    cost_weight: Mapped[float] = mapped_column(Float)
    features: Mapped[bytes] = mapped_column(LargeBinary)
    candidates: Mapped[list] = mapped_column(JSON)
    input_tokens_est: Mapped[int] = mapped_column(Integer)
    output_tokens_est: Mapped[int] = mapped_column(Integer)
    estimated_cost_usd: Mapped[float] = mapped_column(Float)
    scores: Mapped[dict] = mapped_column(JSON)
    request_metadata: Mapped[dict | None] = mapped_column("metadata", JSON)
    # Set when the tenant had a budget: the period whose spend counter this decision reserved.
    budget_period_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class FeedbackRow(Base):
    __tablename__ = "feedback"
    __table_args__ = {"sqlite_autoincrement": True}  # ids are never reused (see migration 0005)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    decision_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("decisions.id", ondelete="CASCADE"), unique=True
    )
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reward: Mapped[float | None] = mapped_column(Float)
    input_tokens: Mapped[int | None] = mapped_column(Integer)
    output_tokens: Mapped[int | None] = mapped_column(Integer)
    cost_usd: Mapped[float | None] = mapped_column(Float)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    # What the decision cost, settled once: cost_usd, else tokens × prices, else the estimate.
    charged_usd: Mapped[float | None] = mapped_column(Float)
    # Who gave the reward: "app" (within the window), "default" (the tenant's default reward,
    # recorded when the window closed without feedback) or "late" (replaced a default).
    origin: Mapped[str] = mapped_column(String(16), default="app", server_default="app")
    # The decision's created_at: the key feedback is partitioned by on Postgres (with its
    # decision), so that "one feedback per decision" is a unique key of the partitioned table.
    decision_created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The decision's model, copied when the feedback is recorded, so that the per-model
    # latency estimate reads recent feedback alone (store/latency.py; NULL in rows recorded
    # before migration 0009 and not backfilled by it).
    model_id: Mapped[str | None] = mapped_column(String(200))


class PosteriorRow(Base):
    __tablename__ = "posteriors"

    version: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    policy: Mapped[str] = mapped_column(String(32))
    feature_dim: Mapped[int] = mapped_column(Integer)
    # FeatureSpec.name of the features it was fitted on; NULL before migration 0008.
    feature_spec: Mapped[str | None] = mapped_column(String(64))
    watermark: Mapped[int] = mapped_column(BigInteger)
    n_feedback: Mapped[int] = mapped_column(BigInteger)
    fit_seconds: Mapped[float] = mapped_column(Float)
    payload: Mapped[bytes] = mapped_column(LargeBinary)


Index("ix_feedback_received_at", FeedbackRow.received_at)


class UsageRow(Base):
    """What the proxy measured for a decision it forwarded: tokens, cost, latency, outcome."""

    __tablename__ = "usage"

    # No foreign key: usage outlives its decision when retention drops old decisions.
    decision_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    model_id: Mapped[str] = mapped_column(String(200))
    input_tokens: Mapped[int | None] = mapped_column(Integer)
    output_tokens: Mapped[int | None] = mapped_column(Integer)
    cost_usd: Mapped[float | None] = mapped_column(Float)
    latency_ms: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(32))  # "ok", "error", "cancelled", "incomplete"
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[list] = mapped_column(JSON, default=list)


class TenantRow(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    p95_latency_ms: Mapped[float | None] = mapped_column(Float)
    budget_period: Mapped[str | None] = mapped_column(String(8))
    budget_limit_usd: Mapped[float | None] = mapped_column(Float)
    budget_on_exhausted: Mapped[str | None] = mapped_column(String(16))
    # Charge this tenant's decisions at the cost its app reports, even below what the service
    # measured or estimated (set by the operator; see service/charge.py).
    trust_reported_cost: Mapped[bool] = mapped_column(Boolean, default=False)
    # Missing feedback: after feedback_window_s without feedback a decision gets default_reward
    # (origin "default"); late_feedback "replace" lets later feedback replace it, else 409.
    feedback_window_s: Mapped[float | None] = mapped_column(Float)
    default_reward: Mapped[float | None] = mapped_column(Float)
    late_feedback: Mapped[str | None] = mapped_column(String(16))
    # Decisions made before this already had their default recorded (the job's watermark).
    defaults_through: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ApiKeyRow(Base):
    """An app key (tenant set) or an operator key (tenant NULL); only the SHA-256 is stored."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant_id: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(16))  # "app" or "admin"
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SpendRow(Base):
    """Per tenant and budget period: spend committed so far (settled + reserved in flight).

    A cache of the ledger (decisions ⨝ feedback) kept so that a reservation is one atomic
    conditional UPDATE; the sync job reconciles it with the ledger.
    """

    __tablename__ = "tenant_spend"

    tenant_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    period_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    committed_usd: Mapped[float] = mapped_column(Float)
    n_decisions: Mapped[int] = mapped_column(BigInteger)


class RetentionRow(Base):
    """What retention has removed: decisions made before ``expired_before`` are gone."""

    __tablename__ = "retention"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)  # "decisions"
    expired_before: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class RoutingConfigRow(Base):
    """Operator routing documents: rule sets (kind "rules", name "*" or a tenant id) and
    cascades (kind "cascade", name the cascade's). Parsed and checked by routing/rules.py and routing/cascades.py."""

    __tablename__ = "routing_config"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    document: Mapped[dict] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
