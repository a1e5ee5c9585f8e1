"""Legal's queue: since when a claim is held, and whether its release asks legal to approve a payout.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("claims", sa.Column("held_since", sa.DateTime(timezone=True), nullable=True))
    op.add_column("claims", sa.Column("needs_legal", sa.Boolean(), nullable=False, server_default=sa.false()))
    # Claims held or released before: from their trail (a release's reason starts with the hold's code).
    op.execute(
        """
        UPDATE claims SET held_since = (
            SELECT max(at) FROM audit_trail WHERE audit_trail.claim_id = claims.id AND action = 'hold_placed'
        ) WHERE held
        """
    )
    op.execute(
        """
        UPDATE claims SET needs_legal = true WHERE id IN (
            SELECT claim_id FROM audit_trail WHERE action = 'hold_released'
            AND (reason LIKE 'injury hold%' OR reason LIKE 'legal_threat hold%')
        )
        """
    )


def downgrade() -> None:
    op.drop_column("claims", "needs_legal")
    op.drop_column("claims", "held_since")
