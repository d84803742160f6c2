"""Tenants, API keys, budget spend counters; charged cost on feedback.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("p95_latency_ms", sa.Float),
        sa.Column("budget_period", sa.String(8)),
        sa.Column("budget_limit_usd", sa.Float),
        sa.Column("budget_on_exhausted", sa.String(16)),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("tenant_id", sa.String(64), sa.ForeignKey("tenants.id", ondelete="CASCADE")),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200)),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS),
    )
    op.create_index("ix_api_keys_tenant_id", "api_keys", ["tenant_id"])
    op.create_table(
        "tenant_spend",
        sa.Column("tenant_id", sa.String(64), sa.ForeignKey("tenants.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("period_start", TS, primary_key=True),
        sa.Column("committed_usd", sa.Float, nullable=False),
        sa.Column("n_decisions", sa.BigInteger, nullable=False),
    )
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("budget_period_start", TS))
    with op.batch_alter_table("feedback") as batch:
        batch.add_column(sa.Column("charged_usd", sa.Float))
    op.create_index("ix_decisions_tenant_created", "decisions", ["tenant_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_decisions_tenant_created", "decisions")
    with op.batch_alter_table("feedback") as batch:
        batch.drop_column("charged_usd")
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("budget_period_start")
    op.drop_table("tenant_spend")
    op.drop_table("api_keys")
    op.drop_table("tenants")
