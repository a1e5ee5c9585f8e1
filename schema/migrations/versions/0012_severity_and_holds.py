"""Severity: how urgent a claim is (s1..s4), for claims opened under a policy with severity rules; legal holds.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("claims", sa.Column("severity", sa.String(length=2), nullable=True))
    op.create_index("ix_claims_severity", "claims", ["severity"])
    op.add_column("claims", sa.Column("held", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("claims", sa.Column("hold_reason", sa.String(length=30), nullable=True))
    op.create_index("ix_claims_held", "claims", ["held"])


def downgrade() -> None:
    op.drop_index("ix_claims_held", table_name="claims")
    op.drop_column("claims", "hold_reason")
    op.drop_column("claims", "held")
    op.drop_index("ix_claims_severity", table_name="claims")
    op.drop_column("claims", "severity")
