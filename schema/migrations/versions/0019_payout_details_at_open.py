"""Payout details given when a claim is opened are stored before the claim's row exists: until the
claim's process records them, their row belongs to no claim.

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payout_details") as batch_op:
        batch_op.alter_column("claim_id", existing_type=sa.String(length=200), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM payout_details WHERE claim_id IS NULL")
    with op.batch_alter_table("payout_details") as batch_op:
        batch_op.alter_column("claim_id", existing_type=sa.String(length=200), nullable=False)
