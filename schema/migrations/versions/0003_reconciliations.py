"""Reconciliations and their findings; notifications may be about a reconciliation instead of a claim.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reconciliations",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("date_from", sa.Date(), nullable=False),
        sa.Column("date_to", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "reconciliation_findings",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("reconciliation_id", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=True),
        sa.Column("claim_id", sa.String(length=200), nullable=True),
        sa.Column("ledger_ref", sa.String(length=200), nullable=True),
        sa.Column("provider_ref", sa.String(length=200), nullable=True),
        sa.Column("ledger_amount_cents", sa.BigInteger(), nullable=True),
        sa.Column("provider_amount_cents", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["reconciliation_id"],
            ["reconciliations.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("reconciliation_findings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reconciliation_findings_reconciliation_id"), ["reconciliation_id"], unique=False
        )

    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reconciliation_id", sa.String(length=200), nullable=True))
        batch_op.alter_column("claim_id", existing_type=sa.VARCHAR(length=200), nullable=True)
        batch_op.create_foreign_key("fk_notifications_reconciliation", "reconciliations", ["reconciliation_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_constraint("fk_notifications_reconciliation", type_="foreignkey")
        batch_op.alter_column("claim_id", existing_type=sa.VARCHAR(length=200), nullable=False)
        batch_op.drop_column("reconciliation_id")

    with op.batch_alter_table("reconciliation_findings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reconciliation_findings_reconciliation_id"))

    op.drop_table("reconciliation_findings")
    op.drop_table("reconciliations")
