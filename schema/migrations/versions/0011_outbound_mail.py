"""Outgoing mail: one row per notification mailed to a claim's customer or pro, sent at most once.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbound_mail",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("notification_key", sa.String(length=200), nullable=False),
        sa.Column("claim_id", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("to", sa.String(length=254), nullable=True),
        sa.Column("subject", sa.String(length=300), nullable=True),
        sa.Column("message_id", sa.String(length=300), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("link_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["claim_id"], ["claims.id"]),
        sa.ForeignKeyConstraint(["link_id"], ["evidence_links.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("notification_key"),
    )
    op.create_index("ix_outbound_mail_claim_id", "outbound_mail", ["claim_id"])


def downgrade() -> None:
    op.drop_index("ix_outbound_mail_claim_id", table_name="outbound_mail")
    op.drop_table("outbound_mail")
