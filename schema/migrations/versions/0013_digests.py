"""The weekly digest: one row per week, its body as JSON, whom it was for and where it was mailed.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "digests",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("week_start", sa.Date(), nullable=False),
        sa.Column("built_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("mailed_to", sa.JSON(), nullable=False),
        sa.Column("mail_state", sa.String(length=10), nullable=False),
        sa.Column("mail_error", sa.Text(), nullable=True),
        sa.Column("mailed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("week_start"),
    )


def downgrade() -> None:
    op.drop_table("digests")
