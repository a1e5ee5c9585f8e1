"""Payout details: where a claim is paid, referred to by id from the workflow and the ledger.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payout_details",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("claim_id", sa.String(length=200), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=False),
        sa.Column("destination", sa.String(length=200), nullable=False),
        sa.Column("added_by", sa.String(length=200), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["claim_id"],
            ["claims.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("payout_details", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payout_details_claim_id"), ["claim_id"], unique=False)

    with op.batch_alter_table("payouts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payout_details_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("method", sa.String(length=10), nullable=True))
        batch_op.create_foreign_key("fk_payouts_payout_details", "payout_details", ["payout_details_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("payouts", schema=None) as batch_op:
        batch_op.drop_constraint("fk_payouts_payout_details", type_="foreignkey")
        batch_op.drop_column("method")
        batch_op.drop_column("payout_details_id")

    with op.batch_alter_table("payout_details", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payout_details_claim_id"))

    op.drop_table("payout_details")
