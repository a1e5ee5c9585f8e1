"""Recording claim events in the database: the claim row, its children and the audit trail.

Each event's audit row is sealed into the claim's audit chain (`audit.chain`) in the same
transaction, covering the row the event wrote or names. An event by a person is recorded only
while that person is an active user with the role they acted in.
"""

from datetime import datetime
from types import SimpleNamespace

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import classified
from audit.chain import AUDIT, Sealer, append, head_of
from schema import tables
from schema.claims import Actor
from schema.enums import FINAL_STATUSES, LEGAL_REVIEW_HOLDS
from schema.events import ClaimEvent, ClaimPatch, StuckMark
from schema.group_commit import GroupCommit
from schema.names import STUCK_NOTICE

CLAIMS, USERS = tables.Claim.__table__, tables.User.__table__
# The statements every event runs, made once: building one costs more than running it.
SEEN = select(AUDIT.c.id).where(AUDIT.c.event_key == bindparam("key"))
CLAIM = select(CLAIMS).where(CLAIMS.c.id == bindparam("claim_id")).with_for_update()
CHANGE_CLAIM = update(CLAIMS).where(CLAIMS.c.id == bindparam("row_id"))  # the columns set are the parameters
USER = (
    select(USERS.c.id, USERS.c.name, USERS.c.active, USERS.c.role)
    .where(USERS.c.id == bindparam("user_id"))
    .with_for_update(read=True)
)
# The claim's milestones each action sets (for the KPI report): a `last_` one moves with every such event,
# the others keep the first. Any event that ends the claim sets `final_at`.
MILESTONES = {
    "decided": ("first_decided_at", "last_decided_at"),
    "approved": ("first_reviewed_at", "first_confirmed_at", "last_confirmed_at", "last_approved_at"),
    "denied": ("first_reviewed_at", "first_confirmed_at", "last_confirmed_at"),
    "sent_back": ("first_reviewed_at",),
    "paid": ("paid_at",),
}


class ClaimActivities:
    def __init__(self, sessions: sessionmaker, audit_key: str):
        self._sessions = sessions
        self._sealer = Sealer(audit_key)
        self._writes = GroupCommit(sessions)

    @activity.defn
    @classified
    def record_event(self, event: ClaimEvent) -> None:
        """Apply one event in one transaction; a second delivery of the same key does nothing.

        Refuses (non-retryable, type `inactive_user`) an event whose actor is not, at this moment,
        an existing active user with the role they acted in; nothing is written then.
        """
        self._record([event])

    @activity.defn
    @classified
    def record_events(self, events: list[ClaimEvent]) -> None:
        """Apply a claim's events in order in one transaction, as `record_event` does one: all or none."""
        self._record(events)

    def _record(self, events: list[ClaimEvent]) -> None:
        """On SQLite, with the events other claims record meanwhile (`schema.group_commit`): a second delivery of
        an event does nothing, so a batch that fails may apply them again alone."""
        self._writes.run(lambda db: self._apply_events(db, events))

    def _apply_events(self, db: Session, events: list[ClaimEvent]) -> None:
        # Each event's reads come first, then its writes: a SQLite worker's turn to write (`schema.database`) starts
        # at the first, and holds only the writes and the seal. The ORM's changes wait for the commit.
        with db.no_autoflush:
            for event in events:
                self._apply_event(db, event)

    def _apply_event(self, db: Session, event: ClaimEvent) -> None:
        # In SQLAlchemy Core, as `audit.chain` writes; the rarer rows an event touches (an agreement it ends, the
        # details it takes) stay in the ORM, flushed with the commit.
        conn = db.connection()
        if conn.scalar(SEEN, {"key": event.key}) is not None:
            return
        if event.actor is not None:
            _require_active(conn, event.actor)
        if event.opened is not None:
            _insert_claim(conn, event)
        row = conn.execute(CLAIM, {"claim_id": event.claim_id}).first()
        if row is None:
            raise LookupError(f"claim {event.claim_id} is not in the database")
        head = head_of(conn, self._sealer, event.claim_id)  # locked after the claim, as every writer locks them
        claim = SimpleNamespace(**row._mapping)
        child = _apply(db, claim, event)
        changed = {name: value for name, value in vars(claim).items() if value != row._mapping[name]}
        if changed:
            conn.execute(CHANGE_CLAIM, {"row_id": event.claim_id, **changed})
        if child is not None:
            given = {
                column.key: getattr(child, column.key)
                for column in child.__table__.columns
                if column.key in vars(child)
            }
            written = conn.execute(insert(child.__table__), given)
            child.id = written.inserted_primary_key[0]
        covers, covered = _covered(db, event, claim, child)
        append(conn, self._sealer, head, _audit_entry(event), covers, covered)

    @activity.defn
    @classified
    def mark_stuck(self, mark: StuckMark) -> None:
        """The claim shows why its process is stuck; finance and admin are told once per stop."""
        with self._sessions.begin() as db:
            claim = db.get(tables.Claim, mark.claim_id, with_for_update=True)
            if claim is None:
                raise LookupError(f"claim {mark.claim_id} is not in the database")
            claim.stuck_reason = mark.reason
            claim.stuck_since = claim.stuck_since or mark.at
            for recipient in ("tier:finance", "tier:admin"):
                key = f"{mark.claim_id}:stuck:{mark.number}:{recipient}"
                if db.scalar(select(tables.Notification.id).where(tables.Notification.event_key == key)) is None:
                    message = f"Claim {mark.claim_id} is stuck: {mark.reason}"
                    db.add(
                        tables.Notification(
                            claim_id=mark.claim_id,
                            event_key=key,
                            recipient=recipient,
                            kind=STUCK_NOTICE,
                            message=message[:2000],
                            at=mark.at,
                        )
                    )


def _require_active(conn: Connection, actor: Actor) -> None:
    """The actor is a user, active, in that role. Their row is share-locked until the event is written,
    so a deactivation or role change waits for it, and any event after that one is refused."""
    user = conn.execute(USER, {"user_id": actor.user_id}).first()
    if user is None:
        reason = f"there is no user {actor.user_id}"
    elif not user.active:
        reason = f"{user.name} ({user.id}) is deactivated"
    elif user.role != actor.role:
        reason = f"{user.name} ({user.id}) is a {user.role} now, not a {actor.role.value}"
    else:
        return
    raise ApplicationError(f"refused: {reason}", type="inactive_user", non_retryable=True)


def _insert_claim(conn: Connection, event: ClaimEvent) -> None:
    start = event.opened
    req = start.request
    conn.execute(
        insert(CLAIMS).values(
            id=start.claim_id,
            customer_id=req.customer_id,
            pro_id=req.pro_id,
            project_id=req.project_id,
            type=req.type,
            status=event.to_status,
            amount_cents=req.amount_cents,
            currency=req.currency,
            incident_date=req.incident_date,
            channel=req.channel,
            description=req.description,
            opened_by=start.opened_by.user_id,
            opened_at=start.opened_at,
            updated_at=event.at,
            assignee=start.opened_by.user_id,
            policy_version=start.policy.version,
            risk_flags=start.risk_flags,
            eligibility_issues=start.eligibility_issues,
            sla_breaches=[],
            severity=start.severity,
            held=False,
        )
    )


def _apply(db: Session, claim: SimpleNamespace, event: ClaimEvent):
    """Change the claim (its row's values) and make the row the event writes; returns that row (not yet written)."""
    actor_id = event.actor.user_id if event.actor else None
    if event.to_status is not None:
        claim.status = event.to_status
    _follow_holds(claim, event)
    values = ClaimPatch.model_validate(event.patch)
    for field in event.patch:
        setattr(claim, field, getattr(values, field))
    if event.sla_breach:
        claim.sla_breaches = [*claim.sla_breaches, event.sla_breach]
    claim.updated_at = event.at
    mark_milestones(claim, event.action, event.to_status, event.at)
    if event.actor is None and event.notification is None:
        claim.stuck_reason = claim.stuck_since = None  # a step of the process was recorded: it moves again
    if event.mediation_outcome is not None:
        _end_mediation(db, event, actor_id)
    if event.action == "payout_details_added":
        _take_payout_details(db, event)
    return _child_row(event, actor_id)


def _follow_holds(claim: SimpleNamespace, event: ClaimEvent) -> None:
    """Since when the claim is held, and whether its release asks legal to approve a payout (legal's queue)."""
    if event.action == "hold_placed":
        claim.held_since = event.at
    elif event.action == "hold_released":
        claim.needs_legal = claim.needs_legal or claim.hold_reason in LEGAL_REVIEW_HOLDS
        claim.held_since = None


def mark_milestones(claim, action: str, to_status: str | None, at: datetime) -> None:
    """Sets the milestones an event is (`MILESTONES`) on the claim: events come in order, so the last is the newest."""
    columns = MILESTONES.get(action, ()) + (("final_at",) if to_status in FINAL_STATUSES else ())
    for column in columns:
        if column.startswith("last_") or getattr(claim, column) is None:
            setattr(claim, column, at)


def _take_payout_details(db: Session, event: ClaimEvent) -> None:
    """Details given with the claim were stored before its row existed, belonging to no claim: now to this one."""
    details = db.get(tables.PayoutDetail, event.payout_details_id, with_for_update=True)
    if details is not None and details.claim_id is None:
        details.claim_id = event.claim_id


def _end_mediation(db: Session, event: ClaimEvent, actor_id: str | None) -> None:
    """The agreement the claim waits on ends as the event says (kept, broken, or expired with nobody acting)."""
    agreement = db.scalar(
        select(tables.Mediation)
        .where(tables.Mediation.claim_id == event.claim_id, tables.Mediation.outcome.is_(None))
        .order_by(tables.Mediation.id.desc())
        .limit(1)
    )
    if agreement is not None:
        agreement.outcome = event.mediation_outcome
        agreement.outcome_note, agreement.outcome_by, agreement.outcome_at = event.reason, actor_id, event.at


def _audit_entry(event: ClaimEvent) -> tables.AuditEntry:
    return tables.AuditEntry(
        claim_id=event.claim_id,
        event_key=event.key,
        at=event.at,
        actor_id=event.actor.user_id if event.actor else None,
        actor_role=event.actor.role if event.actor else None,
        action=event.action,
        from_status=event.from_status,
        to_status=event.to_status,
        reason=event.reason,
    )


def _covered(db: Session, event: ClaimEvent, claim: SimpleNamespace, child) -> tuple[str | None, object]:
    """The table and row the event's audit row seals along with itself."""
    if event.opened is not None:
        return "claims", claim
    if child is not None:
        return child.__tablename__, child
    if event.payout_details_id is not None:  # the payout details the event sets
        details = db.get(tables.PayoutDetail, event.payout_details_id)
        if details is not None and details.claim_id == event.claim_id:
            return "payout_details", details
    if event.action in ("paid", "payout_failed"):
        # The attempt whose outcome this is: the newest, which pay_claim completed before the workflow records it.
        attempt = db.scalar(
            select(tables.Payout)
            .where(tables.Payout.claim_id == event.claim_id)
            .order_by(tables.Payout.attempt.desc())
            .limit(1)
        )
        if attempt is not None:
            return "payouts", attempt
    return None, None


def _child_row(event: ClaimEvent, actor_id: str | None):
    common = {"claim_id": event.claim_id, "event_key": event.key}
    if event.evidence is not None:
        ev, f = event.evidence, event.evidence.file
        return tables.Evidence(
            **common,
            kind=ev.kind,
            source=ev.source,
            note=ev.note,
            sha256=f and f.sha256,
            filename=f and f.filename,
            content_type=f and f.content_type,
            size_bytes=f and f.size_bytes,
            added_by=actor_id,
            added_at=event.at,
            after_decision_requested=event.evidence_late,
        )
    if event.decision is not None:
        d = event.decision
        return tables.Decision(
            **common,
            round=event.round,
            outcome=d.outcome,
            amount_cents=d.amount_cents,
            reason_code=d.reason_code,
            rationale=d.rationale,
            decided_by=actor_id,
            decided_at=event.at,
        )
    if event.approval is not None:
        return tables.Approval(
            **common,
            round=event.round,
            verdict=event.approval.verdict,
            note=event.approval.note,
            approver_id=actor_id,
            approver_role=event.actor.role,
            at=event.at,
            payout_details_id=event.payout_details_id,
        )
    if event.notification is not None:
        n = event.notification
        return tables.Notification(**common, recipient=n.recipient, kind=n.kind, message=n.message, at=event.at)
    if event.mediation is not None:
        m = event.mediation
        return tables.Mediation(
            **common,
            kind=m.kind,
            terms=m.terms,
            evidence_ids=m.evidence_ids,
            due_at=event.mediation_due,
            agreed_by=actor_id,
            agreed_at=event.at,
        )
    return None
