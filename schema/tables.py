"""The database tables: the system of record for claims, money and the audit trail."""

from datetime import UTC, date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import DateTime, TypeDecorator


class UtcDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on both SQLite (which drops the zone) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime")
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UtcDateTime, int: BigInteger, str: String(200)}


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(unique=True)
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Set when the token is made (added or rotated): that moment plus GUARANTEE_TOKEN_TTL_DAYS.
    token_expires_at: Mapped[datetime]
    # Signing in to the web app: an argon2id hash; failed attempts in a row, and the lock they earn.
    password_hash: Mapped[str | None]
    failed_sign_ins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None]


class WebSession(Base):
    """A signed-in browser. The cookie holds a token; only its SHA-256 is kept here."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class UserChange(Base):
    """Who changed a user, when and how: added, deactivated, token_rotated, role_changed.

    Append-only like the audit trail (the migration installs the same triggers). `by` is whoever
    ran the command: the command line works on the database directly, so it is the operating
    system user and host, not an API user.
    """

    __tablename__ = "user_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    at: Mapped[datetime]
    change: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str | None] = mapped_column(Text)
    by: Mapped[str]
    reason: Mapped[str | None] = mapped_column(Text)


class Claim(Base):
    __tablename__ = "claims"

    id: Mapped[str] = mapped_column(primary_key=True)
    customer_id: Mapped[str] = mapped_column(index=True)
    pro_id: Mapped[str] = mapped_column(index=True)
    project_id: Mapped[str] = mapped_column(index=True)
    type: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(30))
    amount_cents: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    approved_amount_cents: Mapped[int | None]
    incident_date: Mapped[date] = mapped_column(Date)
    channel: Mapped[str] = mapped_column(String(20))
    description: Mapped[str] = mapped_column(Text)
    opened_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    opened_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    assignee: Mapped[str | None]
    required_tier: Mapped[str | None] = mapped_column(String(30))
    decided_by: Mapped[str | None]
    decision_requested_at: Mapped[datetime | None]
    policy_version: Mapped[str] = mapped_column(String(20))
    risk_flags: Mapped[list] = mapped_column(JSON, default=list)
    eligibility_issues: Mapped[list] = mapped_column(JSON, default=list)
    sla_breaches: Mapped[list] = mapped_column(JSON, default=list)
    payout_details_id: Mapped[int | None]  # the details in use: what an approval confirms and a payout pays
    payout_details_by: Mapped[str | None]  # who set them: they may not approve
    stuck_reason: Mapped[str | None] = mapped_column(Text)  # a step of the process could not be recorded
    stuck_since: Mapped[datetime | None]
    severity: Mapped[str | None] = mapped_column(String(2), index=True)  # s1..s4 under policies with severity rules
    held: Mapped[bool] = mapped_column(default=False, index=True)  # on legal hold: deadlines stopped, no payout
    hold_reason: Mapped[str | None] = mapped_column(String(30))
    held_since: Mapped[datetime | None]
    # Released from an injury or legal-threat hold: a decision to pay waits on legal's approval too.
    needs_legal: Mapped[bool] = mapped_column(default=False)
    # The moments the KPI report counts, set as the events are recorded (`activities.claims.MILESTONES`),
    # so that it reads one row per claim instead of folding the audit trail.
    first_decided_at: Mapped[datetime | None]
    last_decided_at: Mapped[datetime | None]
    first_reviewed_at: Mapped[datetime | None]  # approved, denied or sent back
    first_confirmed_at: Mapped[datetime | None]  # approved or denied: the review let the decision stand
    last_confirmed_at: Mapped[datetime | None]
    last_approved_at: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
    final_at: Mapped[datetime | None]

    __table_args__ = (
        # The KPI report reads the claims touched in a period: changed after its start, opened before its end.
        Index("ix_claims_updated_at_opened_at", "updated_at", "opened_at"),
        # The queues (`service.queries.awaiting`): a person's casework, and the decisions waiting on a tier.
        # Each serves a filter on its first column alone too.
        Index("ix_claims_assignee_status", "assignee", "status"),
        Index("ix_claims_status_tier", "status", "required_tier"),
    )


class Evidence(Base):
    __tablename__ = "evidence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    claim_id: Mapped[str] = mapped_column(ForeignKey("claims.id"), index=True)
    event_key: Mapped[str] = mapped_column(unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(20))
    note: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str | None] = mapped_column(String(64))
    filename: Mapped[str | None] = mapped_column(String(255))
    content_type: Mapped[str | None]
    size_bytes: Mapped[int | None]
    added_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    added_at: Mapped[datetime]
    after_decision_requested: Mapped[bool] = mapped_column(Boolean, default=False)


class EvidenceFile(Base):
    """A file in the evidence store (an evidence file, or an email's raw bytes), stored once by its SHA-256.

    Its content is in `chunks` rows of evidence_chunks, so that neither writing nor reading it holds it whole.
    """

    __tablename__ = "evidence_files"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size_bytes: Mapped[int]
    chunks: Mapped[int] = mapped_column(Integer)
    stored_at: Mapped[datetime]


class EvidenceChunk(Base):
    __tablename__ = "evidence_chunks"

    sha256: Mapped[str] = mapped_column(ForeignKey("evidence_files.sha256"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class EvidenceLink(Base):
    """A signed link through which the customer or the pro adds evidence to one claim until it expires.

    The token is not stored (it is an HMAC under the signing key); this row makes it revocable and says
    who made and who revoked it. The link acts as the user `link:<id>` (role `party`), which is active
    while the link is usable and is deactivated when it is revoked.
    """

    __tablename__ = "evidence_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    claim_id: Mapped[str] = mapped_column(ForeignKey("claims.id"), index=True)
    party: Mapped[str] = mapped_column(String(20))
    created_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"))


class Decision(Base):
    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    claim_id: Mapped[str] = mapped_column(ForeignKey("claims.id"), index=True)
    event_key: Mapped[str] = mapped_column(unique=True)
    round: Mapped[int]
    outcome: Mapped[str] = mapped_column(String(10))
    amount_cents: Mapped[int | None]
    reason_code: Mapped[str | None] = mapped_column(String(40))
    rationale: Mapped[str] = mapped_column(Text)
    decided_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime]


class Approval(Base):
    __tablename__ = "approvals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    claim_id: Mapped[str] = mapped_column(ForeignKey("claims.id"), index=True)
    event_key: Mapped[str] = mapped_column(unique=True)
    round: Mapped[int]
    verdict: Mapped[str] = mapped_column(String(10))
    note: Mapped[str] = mapped_column(Text)
    approver_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    approver_role: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime]
    payout_details_id: Mapped[int | None] = mapped_column(ForeignKey("payout_details.id"))


class PayoutDetail(Base):
    """Where a claim's money goes; each change is a new row, and a payout names the row it used."""

    __tablename__ = "payout_details"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # None while the claim they were given with is being opened: its first step takes them.
    claim_id: Mapped[str | None] = mapped_column(ForeignKey("claims.id"), index=True)
    method: Mapped[str] = mapped_column(String(10))
    destination: Mapped[str]
    added_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    added_at: Mapped[datetime]


class Contact(Base):
    """A party's email address on a claim; each change is a new row, the newest per party in use."""

    __tablename__ = "claim_contacts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    claim_id: Mapped[str] = mapped_column(ForeignKey("claims.id"), index=True)
    party: Mapped[str] = mapped_column(String(10))
    email: Mapped[str] = mapped_column(String(254), index=True)
    set_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    set_at: Mapped[datetime]


class Mediation(Base):
    """An agreement between the customer and the pro recorded on a claim, and how it ended."""

    __tablename__ = "mediations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    claim_id: Mapped[str] = mapped_column(ForeignKey("claims.id"), index=True)
    event_key: Mapped[str] = mapped_column(unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    terms: Mapped[str] = mapped_column(Text)
    evidence_ids: Mapped[list] = mapped_column(JSON)
    due_at: Mapped[datetime]
    agreed_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    agreed_at: Mapped[datetime]
    outcome: Mapped[str | None] = mapped_column(String(10))
    outcome_note: Mapped[str | None] = mapped_column(Text)
    outcome_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    outcome_at: Mapped[datetime | None]


class Referral(Base):
    """A claim's question handed to another team; taken by one person there, who answers it."""

    __tablename__ = "referrals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    claim_id: Mapped[str] = mapped_column(ForeignKey("claims.id"), index=True)
    team: Mapped[str] = mapped_column(String(30), index=True)
    note: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), index=True)
    referred_by: Mapped[str] = mapped_column(ForeignKey("users.id"))
    referred_at: Mapped[datetime]
    owner: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    taken_at: Mapped[datetime | None]
    answer: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None]


class Message(Base):
    """An email received, kept whole: its raw bytes in the evidence store by SHA-256, and where it went.

    `state`: inbox (waits for a specialist), joined (its text and files are evidence on `claim_id`),
    quarantined or refused (`reason`), opened (a claim was opened from it: `claim_id`), dismissed
    (not a claim: `decided_by`, `reason`). `claim_id` has no foreign key: a claim being opened from
    the message is named here before it exists, so opening again after a lost answer opens the same one.
    """

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int]
    via: Mapped[str] = mapped_column(String(10))
    sender: Mapped[str] = mapped_column(String(254), index=True)
    subject: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(index=True)
    state: Mapped[str] = mapped_column(String(20), index=True)
    claim_id: Mapped[str | None] = mapped_column(index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    attachments: Mapped[list] = mapped_column(JSON, default=list)
    decided_by: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]


class Payout(Base):
    """The ledger: written before the provider is called, completed after it answers."""

    __tablename__ = "payouts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    claim_id: Mapped[str] = mapped_column(ForeignKey("claims.id"), index=True)
    attempt: Mapped[int]
    idempotency_key: Mapped[str] = mapped_column(unique=True)
    amount_cents: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    payout_details_id: Mapped[int | None] = mapped_column(ForeignKey("payout_details.id"))
    method: Mapped[str | None] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10), index=True)
    provider: Mapped[str] = mapped_column(String(20))
    provider_ref: Mapped[str | None]
    created_at: Mapped[datetime] = mapped_column(index=True)
    completed_at: Mapped[datetime | None]
    failure_code: Mapped[str | None]
    failure_message: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("claim_id", "attempt"),)


class Notification(Base):
    """A message to a person or a queue, about a claim or about a reconciliation."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    claim_id: Mapped[str | None] = mapped_column(ForeignKey("claims.id"), index=True)
    reconciliation_id: Mapped[str | None] = mapped_column(ForeignKey("reconciliations.id"))
    event_key: Mapped[str] = mapped_column(unique=True)
    recipient: Mapped[str]
    kind: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime]


class Reconciliation(Base):
    """One run of matching the ledger against the provider for a range of UTC days."""

    __tablename__ = "reconciliations"

    id: Mapped[str] = mapped_column(primary_key=True)
    date_from: Mapped[date] = mapped_column(Date)
    date_to: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10))
    requested_by: Mapped[str | None]
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    counts: Mapped[dict] = mapped_column(JSON, default=dict)
    failure: Mapped[str | None] = mapped_column(Text)


class Digest(Base):
    """A weekly digest: last week's KPIs and new signals, kept as built; whom it was for and where it was mailed."""

    __tablename__ = "digests"

    id: Mapped[str] = mapped_column(primary_key=True)
    week_start: Mapped[date] = mapped_column(Date, unique=True)
    built_at: Mapped[datetime]
    body: Mapped[dict] = mapped_column(JSON)
    recipients: Mapped[list] = mapped_column(JSON, default=list)
    mailed_to: Mapped[list] = mapped_column(JSON, default=list)
    mail_state: Mapped[str] = mapped_column(String(10), default="pending")
    mail_error: Mapped[str | None] = mapped_column(Text)
    mailed_at: Mapped[datetime | None]


class ReconciliationFinding(Base):
    """A discrepancy a reconciliation found (matched lines are only counted)."""

    __tablename__ = "reconciliation_findings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    reconciliation_id: Mapped[str] = mapped_column(ForeignKey("reconciliations.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    key: Mapped[str | None]
    claim_id: Mapped[str | None]
    ledger_ref: Mapped[str | None]
    provider_ref: Mapped[str | None]
    ledger_amount_cents: Mapped[int | None]
    provider_amount_cents: Mapped[int | None]
    currency: Mapped[str | None] = mapped_column(String(3))
    detail: Mapped[str] = mapped_column(Text)


class AuditEntry(Base):
    """Append-only: the migration installs triggers that refuse UPDATE and DELETE.

    Tamper-evident too: each row is sealed into its claim's hash chain (`audit/chain.py` says how);
    rows written before the chain existed have no seal.
    """

    __tablename__ = "audit_trail"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    claim_id: Mapped[str] = mapped_column(ForeignKey("claims.id"))
    event_key: Mapped[str] = mapped_column(unique=True)
    at: Mapped[datetime]
    actor_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    actor_role: Mapped[str | None] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(40))
    from_status: Mapped[str | None] = mapped_column(String(30))
    to_status: Mapped[str | None] = mapped_column(String(30))
    reason: Mapped[str | None] = mapped_column(Text)
    # The row the event wrote or names, sealed with it: evidence, decisions, approvals,
    # notifications, payout_details, payouts (by id), or claims (the claim as opened).
    covers: Mapped[str | None] = mapped_column(String(30))
    covers_id: Mapped[int | None]
    # The seal: position in the claim's chain, the previous row's chain_hash, MACs of this row's
    # fields and of the row it covers, and the MAC linking them.
    chain_seq: Mapped[int | None]
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    row_mac: Mapped[str | None] = mapped_column(String(64))
    covered_mac: Mapped[str | None] = mapped_column(String(64))
    chain_hash: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_audit_claim_at", "claim_id", "at", "id"),
        Index("ix_audit_action_at", "action", "at"),  # the KPI report's events of a period
        UniqueConstraint("claim_id", "chain_seq", name="uq_audit_claim_chain_seq"),
    )


class AuditHead(Base):
    """The newest link of a claim's audit chain, sealed, so that deleting the last rows shows too.

    `legacy` lists the rows written before the chain existed that `guarantee audit seal-legacy`
    adopted, as [audit row id, MAC of its fields].
    """

    __tablename__ = "audit_heads"

    claim_id: Mapped[str] = mapped_column(ForeignKey("claims.id"), primary_key=True)
    seq: Mapped[int]
    hash: Mapped[str] = mapped_column(String(64))
    legacy: Mapped[list] = mapped_column(JSON, default=list)
    mac: Mapped[str] = mapped_column(String(64))


class OutboundMail(Base):
    """One mail to a claim's customer or pro, for one notification: sent at most once, with every try counted.

    `state` is `queued` (built, not yet accepted by the transport), `sent`, `failed` (given up after
    the last try) or `skipped` (no address on file for the party, nothing sent). `link_id` is the
    evidence link the mail carries, so a retried send carries the same link.
    """

    __tablename__ = "outbound_mail"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    notification_key: Mapped[str] = mapped_column(unique=True)
    claim_id: Mapped[str] = mapped_column(ForeignKey("claims.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    to: Mapped[str | None] = mapped_column(String(254))
    subject: Mapped[str | None] = mapped_column(String(300))
    message_id: Mapped[str] = mapped_column(String(300))
    state: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    queued_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    link_id: Mapped[int | None] = mapped_column(ForeignKey("evidence_links.id"))
