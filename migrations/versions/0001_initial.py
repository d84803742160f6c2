"""Initial schema: models, decisions, feedback, posteriors.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("provider", sa.String(100)),
        sa.Column("input_price_per_mtok", sa.Float, nullable=False),
        sa.Column("output_price_per_mtok", sa.Float, nullable=False),
        sa.Column("context_window", sa.Integer, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("base_url", sa.String(2000)),
        sa.Column("api_key_env", sa.String(200)),
        sa.Column("upstream_model", sa.String(200)),
        sa.Column("typical_latency_ms", sa.Float),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "decisions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant_id", sa.String(64)),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("model_id", sa.String(200), nullable=False),
        sa.Column("propensity", sa.Float, nullable=False),
        sa.Column("policy", sa.String(32), nullable=False),
        sa.Column("policy_version", sa.Integer, nullable=False),
        sa.Column("cost_weight", sa.Float, nullable=False),
        sa.Column("features", sa.LargeBinary, nullable=False),
        sa.Column("candidates", sa.JSON, nullable=False),
        sa.Column("input_tokens_est", sa.Integer, nullable=False),
        sa.Column("output_tokens_est", sa.Integer, nullable=False),
        sa.Column("estimated_cost_usd", sa.Float, nullable=False),
        sa.Column("scores", sa.JSON, nullable=False),
        sa.Column("metadata", sa.JSON),
    )
    op.create_index("ix_decisions_tenant_id", "decisions", ["tenant_id"])
    op.create_index("ix_decisions_created_at", "decisions", ["created_at"])
    op.create_table(
        "feedback",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("decision_id", sa.String(36),
                  sa.ForeignKey("decisions.id", ondelete="CASCADE"), nullable=False, unique=True),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("reward", sa.Float),
        sa.Column("input_tokens", sa.Integer),
        sa.Column("output_tokens", sa.Integer),
        sa.Column("cost_usd", sa.Float),
        sa.Column("latency_ms", sa.Float),
        sa.Column("error", sa.Text),
    )
    op.create_index("ix_feedback_received_at", "feedback", ["received_at"])
    op.create_table(
        "posteriors",
        sa.Column("version", BigId, primary_key=True, autoincrement=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("policy", sa.String(32), nullable=False),
        sa.Column("feature_dim", sa.Integer, nullable=False),
        sa.Column("watermark", sa.BigInteger, nullable=False),
        sa.Column("n_feedback", sa.BigInteger, nullable=False),
        sa.Column("fit_seconds", sa.Float, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("posteriors")
    op.drop_table("feedback")
    op.drop_table("decisions")
    op.drop_table("models")
