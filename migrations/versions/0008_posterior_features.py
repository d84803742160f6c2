"""What features a posterior was fitted on (posteriors.feature_spec).

A posterior's weights mean something only for the featuriser that made its training rows.
The feature size alone does not say which one (hashed n-grams and WordLlama embeddings can
have the same size), so each version records ``FeatureSpec.name``; versions stored before
this column existed have NULL, which is read as the hashed features of their size (the only
word block the service had then).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("posteriors", sa.Column("feature_spec", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("posteriors") as batch:
        batch.drop_column("feature_spec")
