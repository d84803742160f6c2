"""Decision-log lifecycle: per-tenant feedback window and default reward, feedback origin and
its decision's time (the partition key of 0006), retention state; usage outlives decisions.

Locking: adds nullable columns (instant on Postgres), then fills ``feedback.decision_created_at``
from the decisions (one UPDATE over the feedback table, which holds its row locks until the
migration commits: run it when feedback can wait, or before the service starts).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)

_USAGE_COLUMNS = ("decision_id, recorded_at, model_id, input_tokens, output_tokens, cost_usd, "
                  "latency_ms, status, error, attempts")


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("feedback_window_s", sa.Float))
        batch.add_column(sa.Column("default_reward", sa.Float))
        batch.add_column(sa.Column("late_feedback", sa.String(16)))
        batch.add_column(sa.Column("defaults_through", TS))
    with op.batch_alter_table("feedback") as batch:
        batch.add_column(sa.Column("origin", sa.String(16), nullable=False,
                                   server_default="app"))
        batch.add_column(sa.Column("decision_created_at", TS))
    op.execute("UPDATE feedback SET decision_created_at = (SELECT d.created_at FROM decisions d "
               "WHERE d.id = feedback.decision_id)")
    # On SQLite the table is rebuilt with AUTOINCREMENT: a feedback id is never reused (a late
    # reward that replaces a default must get an id above the refit's watermark).
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table("feedback", recreate="always" if sqlite else "auto",
                              table_kwargs={"sqlite_autoincrement": True} if sqlite else {}
                              ) as batch:
        batch.alter_column("decision_created_at", existing_type=TS, nullable=False)
    op.create_table(
        "retention",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("expired_before", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    _drop_usage_foreign_key()


def _drop_usage_foreign_key() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for fk in sa.inspect(bind).get_foreign_keys("usage"):
            op.drop_constraint(fk["name"], "usage", type_="foreignkey")
        return
    # SQLite cannot drop a constraint: rebuild the table without it.
    op.create_table(
        "usage_new",
        sa.Column("decision_id", sa.String(36), primary_key=True),
        sa.Column("recorded_at", TS, nullable=False),
        sa.Column("model_id", sa.String(200), nullable=False),
        sa.Column("input_tokens", sa.Integer),
        sa.Column("output_tokens", sa.Integer),
        sa.Column("cost_usd", sa.Float),
        sa.Column("latency_ms", sa.Float),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("attempts", sa.JSON, nullable=False),
    )
    op.execute(f"INSERT INTO usage_new ({_USAGE_COLUMNS}) SELECT {_USAGE_COLUMNS} FROM usage")
    op.drop_table("usage")
    op.rename_table("usage_new", "usage")


def downgrade() -> None:
    op.drop_table("retention")
    with op.batch_alter_table("feedback") as batch:
        batch.drop_column("decision_created_at")
        batch.drop_column("origin")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("defaults_through")
        batch.drop_column("late_feedback")
        batch.drop_column("default_reward")
        batch.drop_column("feedback_window_s")
