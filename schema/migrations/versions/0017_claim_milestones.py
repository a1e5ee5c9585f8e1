"""Claim milestones: the moments the KPI report counts, on the claim row, so it need not fold the audit trail.

Existing claims get theirs from their audit trail, as the activity would have set them. Two indexes find
a period's claims (touched in it) and events (by action and time).

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

FINAL = "'paid', 'denied', 'withdrawn', 'closed_no_evidence', 'payout_cancelled', 'resolved_by_mediation'"
# Each column, and the aggregate of the audit rows that set it.
MILESTONES = {
    "first_decided_at": "min(CASE WHEN action = 'decided' THEN at END)",
    "last_decided_at": "max(CASE WHEN action = 'decided' THEN at END)",
    "first_reviewed_at": "min(CASE WHEN action IN ('approved', 'denied', 'sent_back') THEN at END)",
    "first_confirmed_at": "min(CASE WHEN action IN ('approved', 'denied') THEN at END)",
    "last_confirmed_at": "max(CASE WHEN action IN ('approved', 'denied') THEN at END)",
    "last_approved_at": "max(CASE WHEN action = 'approved' THEN at END)",
    "paid_at": "min(CASE WHEN action = 'paid' THEN at END)",
    "final_at": f"min(CASE WHEN to_status IN ({FINAL}) THEN at END)",
}


def upgrade() -> None:
    for column in MILESTONES:
        op.add_column("claims", sa.Column(column, sa.DateTime(timezone=True), nullable=True))
    folded = ", ".join(f"{sql} AS {column}" for column, sql in MILESTONES.items())
    op.execute(
        f"UPDATE claims SET {', '.join(f'{c} = m.{c}' for c in MILESTONES)} "
        f"FROM (SELECT claim_id, {folded} FROM audit_trail GROUP BY claim_id) AS m WHERE m.claim_id = claims.id"
    )
    op.create_index("ix_claims_updated_at_opened_at", "claims", ["updated_at", "opened_at"])
    op.create_index("ix_audit_action_at", "audit_trail", ["action", "at"])


def downgrade() -> None:
    op.drop_index("ix_audit_action_at", table_name="audit_trail")
    op.drop_index("ix_claims_updated_at_opened_at", table_name="claims")
    for column in reversed(MILESTONES):
        op.drop_column("claims", column)
