"""The model a feedback is about, stored with it (feedback.model_id).

The per-model p95 latency (``store.latency.recent_p95``) is read by every serving process
every ``latency_refresh_s`` from the newest feedback. Without the model on the feedback row it
had to join the decision log, and Postgres answered that join with a scan of the whole day's
decisions partition — hundreds of ms of database CPU per read on a busy day, growing with the
traffic (the stalls of ``python -m benchmarks http``'s last open-loop phase). The model is
copied from the decision when the feedback is recorded.

Rows recorded before this revision get it from their decisions if they were received in the
last seven days (what a latency window reads; older rows are left NULL, as rewriting every
feedback row of a large log would double its size for nothing). Feedback recorded during a
rolling upgrade by a process still on the old code has NULL too, and is left out of the
latency estimate until it leaves the window.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_BACKFILL_DAYS = 7


def upgrade() -> None:
    op.add_column("feedback", sa.Column("model_id", sa.String(200), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "UPDATE feedback f SET model_id = d.model_id FROM decisions d "
            "WHERE d.id = f.decision_id AND d.created_at = f.decision_created_at "
            f"AND f.received_at >= now() - interval '{_BACKFILL_DAYS} days'")
    else:
        op.execute(
            "UPDATE feedback SET model_id = (SELECT d.model_id FROM decisions d "
            "WHERE d.id = feedback.decision_id) "
            f"WHERE received_at >= datetime('now', '-{_BACKFILL_DAYS} days')")


def downgrade() -> None:
    with op.batch_alter_table("feedback") as batch:
        batch.drop_column("model_id")
