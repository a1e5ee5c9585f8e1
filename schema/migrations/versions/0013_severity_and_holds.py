"""Severity: how urgent a claim is (s1..s4), for claims opened under a policy with severity rules.

Revision ID: 0013
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("claims", sa.Column("severity", sa.String(length=2), nullable=True))
    op.create_index("ix_claims_severity", "claims", ["severity"])


def downgrade() -> None:
    op.drop_index("ix_claims_severity", table_name="claims")
    op.drop_column("claims", "severity")
