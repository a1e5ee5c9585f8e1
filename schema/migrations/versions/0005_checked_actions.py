"""Who set a claim's payout details, which details an approval confirmed, stuck claims, failed reconciliations.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("claims") as batch:
        batch.add_column(sa.Column("payout_details_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("payout_details_by", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("stuck_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("stuck_since", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("approvals") as batch:
        batch.add_column(sa.Column("payout_details_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_approvals_payout_details", "payout_details", ["payout_details_id"], ["id"])
    with op.batch_alter_table("reconciliations") as batch:
        batch.add_column(sa.Column("failure", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("reconciliations") as batch:
        batch.drop_column("failure")
    with op.batch_alter_table("approvals") as batch:
        batch.drop_constraint("fk_approvals_payout_details", type_="foreignkey")
        batch.drop_column("payout_details_id")
    with op.batch_alter_table("claims") as batch:
        batch.drop_column("stuck_since")
        batch.drop_column("stuck_reason")
        batch.drop_column("payout_details_by")
        batch.drop_column("payout_details_id")
