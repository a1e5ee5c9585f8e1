"""The queues at scale: a person's casework by (assignee, status), the decisions waiting on a tier by
(status, required_tier); each replaces the index on its first column alone, which it also serves.

Revision ID: 0018
Revises: 0017
"""

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_claims_assignee_status", "claims", ["assignee", "status"])
    op.create_index("ix_claims_status_tier", "claims", ["status", "required_tier"])
    op.drop_index("ix_claims_assignee", table_name="claims")
    op.drop_index("ix_claims_status", table_name="claims")


def downgrade() -> None:
    op.create_index("ix_claims_status", "claims", ["status"])
    op.create_index("ix_claims_assignee", "claims", ["assignee"])
    op.drop_index("ix_claims_status_tier", table_name="claims")
    op.drop_index("ix_claims_assignee_status", table_name="claims")
