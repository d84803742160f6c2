"""Postgres: decisions and feedback partitioned by day (retention drops whole partitions).

Converts a populated database without losing a row: both tables are renamed, partitioned
tables are created with a partition per day that has rows (plus yesterday to a week ahead and
a default partition), every row is copied with one INSERT … SELECT per table, then the
primary/unique keys and indexes are built (see ``store/partitions.py`` for the keys).

Locking: ``decisions`` and ``feedback`` are held ACCESS EXCLUSIVE for the whole migration —
routing that logs a decision and feedback wait (decisions batched in the writer's buffer
wait there). Measured in docs/operations.md: about 10 s per million decisions with their
feedback on the reference machine; plan it in a quiet period, or stop the service.

SQLite is left as it is: retention there is a batched DELETE.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""
from datetime import datetime, timezone

from alembic import op

from bandit_router.store.partitions import convert

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    convert(bind, datetime.now(timezone.utc).date())


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        raise NotImplementedError(
            "0006 cannot be undone in place: export the decisions (bandit-router export) and "
            "restore a backup taken before the upgrade")
