"""Referrals: a claim's question handed to another team, with an owner and a status.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "referrals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("claim_id", sa.String(), nullable=False),
        sa.Column("team", sa.String(length=30), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("referred_by", sa.String(), nullable=False),
        sa.Column("referred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("owner", sa.String(), nullable=True),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["claim_id"], ["claims.id"]),
        sa.ForeignKeyConstraint(["referred_by"], ["users.id"]),
        sa.ForeignKeyConstraint(["owner"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_referrals_claim_id", "referrals", ["claim_id"])
    op.create_index("ix_referrals_team", "referrals", ["team"])
    op.create_index("ix_referrals_status", "referrals", ["status"])


def downgrade() -> None:
    for column in ("status", "team", "claim_id"):
        op.drop_index(f"ix_referrals_{column}", table_name="referrals")
    op.drop_table("referrals")
