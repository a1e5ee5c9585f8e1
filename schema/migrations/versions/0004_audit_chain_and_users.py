"""Audit chain and users: sealed audit rows and chain heads, token expiry, user changes, actors as real users.

Existing audit rows stay unsealed (`guarantee audit seal-legacy` adopts them); existing tokens
expire GUARANTEE_TOKEN_TTL_DAYS (default 90) after their user was created.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from stack.config import token_ttl

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# (table, column, constraint name): the people behind claim records are users.
ACTOR_KEYS = [
    ("decisions", "decided_by", "fk_decisions_decided_by_users"),
    ("approvals", "approver_id", "fk_approvals_approver_id_users"),
    ("evidence", "added_by", "fk_evidence_added_by_users"),
    ("payout_details", "added_by", "fk_payout_details_added_by_users"),
]
AUDIT_COLUMNS = [
    ("covers", sa.String(length=30)),
    ("covers_id", sa.BigInteger()),
    ("chain_seq", sa.BigInteger()),
    ("prev_hash", sa.String(length=64)),
    ("row_mac", sa.String(length=64)),
    ("covered_mac", sa.String(length=64)),
    ("chain_hash", sa.String(length=64)),
]


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("token_expires_at", sa.DateTime(timezone=True), nullable=True))
    _expire_existing_tokens()
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column("token_expires_at", existing_type=sa.DateTime(timezone=True), nullable=False)

    op.create_table(
        "user_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("change", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("by", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("user_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_changes_user_id"), ["user_id"], unique=False)
    _append_only("user_changes")

    for table, column, name in ACTOR_KEYS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_foreign_key(name, "users", [column], ["id"])

    with op.batch_alter_table("audit_trail", schema=None) as batch_op:
        for name, type_ in AUDIT_COLUMNS:
            batch_op.add_column(sa.Column(name, type_, nullable=True))
        batch_op.create_foreign_key("fk_audit_trail_actor_id_users", "users", ["actor_id"], ["id"])
        batch_op.create_unique_constraint("uq_audit_claim_chain_seq", ["claim_id", "chain_seq"])
    if sqlite:
        # SQLite rebuilt the table, and its triggers went with the old copy.
        _sqlite_append_only("audit_trail")

    op.create_table(
        "audit_heads",
        sa.Column("claim_id", sa.String(length=200), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("legacy", sa.JSON(), nullable=False),
        sa.Column("mac", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["claim_id"],
            ["claims.id"],
        ),
        sa.PrimaryKeyConstraint("claim_id"),
    )


def _expire_existing_tokens() -> None:
    users = sa.table(
        "users",
        sa.column("id", sa.String()),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("token_expires_at", sa.DateTime(timezone=True)),
    )
    bind, ttl = op.get_bind(), token_ttl()
    for user_id, created_at in bind.execute(sa.select(users.c.id, users.c.created_at)).all():
        bind.execute(users.update().where(users.c.id == user_id).values(token_expires_at=created_at + ttl))


def _append_only(table: str) -> None:
    """Like the audit trail (0001): the database itself refuses UPDATE and DELETE on `table`."""
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_append_only(table)
    else:
        op.execute(
            f"CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{table} is append-only'; END $$"
        )
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()"
        )


def _sqlite_append_only(table: str) -> None:
    for verb in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
        )


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.drop_table("audit_heads")

    with op.batch_alter_table("audit_trail", schema=None) as batch_op:
        batch_op.drop_constraint("uq_audit_claim_chain_seq", type_="unique")
        batch_op.drop_constraint("fk_audit_trail_actor_id_users", type_="foreignkey")
        for name, _ in reversed(AUDIT_COLUMNS):
            batch_op.drop_column(name)
    if sqlite:
        _sqlite_append_only("audit_trail")

    for table, _, name in reversed(ACTOR_KEYS):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(name, type_="foreignkey")

    if not sqlite:
        op.execute("DROP TRIGGER user_changes_append_only ON user_changes")
        op.execute("DROP FUNCTION user_changes_append_only()")
    with op.batch_alter_table("user_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_changes_user_id"))

    op.drop_table("user_changes")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("token_expires_at")
