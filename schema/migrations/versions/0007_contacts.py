"""The parties' email addresses on a claim, with every change kept.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "claim_contacts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("claim_id", sa.String(), nullable=False),
        sa.Column("party", sa.String(length=10), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("set_by", sa.String(), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["claim_id"], ["claims.id"]),
        sa.ForeignKeyConstraint(["set_by"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_claim_contacts_claim_id", "claim_contacts", ["claim_id"])
    op.create_index("ix_claim_contacts_email", "claim_contacts", ["email"])


def downgrade() -> None:
    op.drop_index("ix_claim_contacts_email", table_name="claim_contacts")
    op.drop_index("ix_claim_contacts_claim_id", table_name="claim_contacts")
    op.drop_table("claim_contacts")
