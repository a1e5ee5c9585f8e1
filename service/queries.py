"""Reading claims from the database, the system of record: lists, queues and one claim whole."""

from datetime import UTC, date, datetime, time, timedelta
from functools import cache

from sqlalchemy import Select, and_, bindparam, case, exists, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from rules import authority, roles, states
from schema import tables
from schema.claims import (
    Actor,
    ApprovalView,
    ClaimDetail,
    ClaimPage,
    ClaimSummary,
    ContactView,
    DecisionView,
    EvidenceView,
    FileRef,
    MediationView,
    NotificationView,
    PayoutDetailsView,
    PayoutView,
    TimelineEntry,
)
from schema.enums import Action, ApprovalVerdict, ClaimSort, ClaimStatus, ClaimType

# A claim's own row as a plain row: every action's check and answer reads it, and the ORM's object cost more
# than the read.
_CLAIM = select(tables.Claim.__table__).where(tables.Claim.__table__.c.id == bindparam("claim_id"))


def _claim_row(db: Session, claim_id: str):
    return db.connection().execute(_CLAIM, {"claim_id": claim_id}).first()


def get_summary(sessions: sessionmaker, claim_id: str) -> ClaimSummary | None:
    """The claim's own row: what a check before an action reads, without the nine tables of its detail."""
    with sessions() as db:
        claim = _claim_row(db, claim_id)
        return None if claim is None else ClaimSummary.model_validate(claim, from_attributes=True)


def get_claim(sessions: sessionmaker, claim_id: str) -> ClaimDetail | None:
    with sessions() as db:
        claim = _claim_row(db, claim_id)
        if claim is None:
            return None
        return ClaimDetail(
            **ClaimSummary.model_validate(claim, from_attributes=True).model_dump(),
            evidence=[_evidence(e) for e in _children(db, tables.Evidence, claim_id)],
            decisions=[
                DecisionView.model_validate(d, from_attributes=True) for d in _children(db, tables.Decision, claim_id)
            ],
            approvals=[
                ApprovalView.model_validate(a, from_attributes=True) for a in _children(db, tables.Approval, claim_id)
            ],
            payout_details=[
                PayoutDetailsView.model_validate(p, from_attributes=True)
                for p in _children(db, tables.PayoutDetail, claim_id)
            ],
            payouts=[
                PayoutView.model_validate(p, from_attributes=True) for p in _children(db, tables.Payout, claim_id)
            ],
            contacts=[
                ContactView.model_validate(c, from_attributes=True) for c in _children(db, tables.Contact, claim_id)
            ],
            mediations=[
                MediationView.model_validate(m, from_attributes=True) for m in _children(db, tables.Mediation, claim_id)
            ],
            notifications=[
                NotificationView.model_validate(n, from_attributes=True)
                for n in _children(db, tables.Notification, claim_id)
            ],
            timeline=[
                TimelineEntry.model_validate(a, from_attributes=True)
                for a in _children(db, tables.AuditEntry, claim_id)
            ],
        )


def _children(db: Session, table, claim_id: str) -> list:
    """A claim's rows of one table, oldest first, as plain rows: the ORM's objects cost more than the reads."""
    return db.connection().execute(_of_claim(table), {"claim_id": claim_id}).all()


@cache
def _of_claim(table) -> Select:
    rows = table.__table__
    return select(rows).where(rows.c.claim_id == bindparam("claim_id")).order_by(rows.c.id)


def _evidence(row) -> EvidenceView:
    file = None
    if row.sha256:
        file = FileRef(
            sha256=row.sha256, filename=row.filename, content_type=row.content_type, size_bytes=row.size_bytes
        )
    return EvidenceView(
        id=row.id,
        kind=row.kind,
        source=row.source,
        note=row.note,
        file=file,
        added_by=row.added_by,
        added_at=row.added_at,
        after_decision_requested=row.after_decision_requested,
    )


def awaiting(actor: Actor):
    """Claims whose next move is this person's: their own casework, approvals they may give, payouts to settle.

    Built from the rules: the tiers within the role's reach, minus the claims the person is
    conflicted on (maker-checker), and for those who settle payouts, the states that allow it; for
    legal, the holds and the payouts waiting on legal's approval.
    """
    claim = tables.Claim
    mine = and_(claim.assignee == actor.user_id, claim.status.in_(states.CASEWORK_STATES))
    people = [getattr(claim, field) for field in authority.CONFLICTED]
    not_conflicted = [or_(person.is_(None), person != actor.user_id) for person in people]
    if actor.role in roles.ROLES[Action.release_hold]:
        # Legal: the holds only legal releases, and the payouts a release after an injury or legal threat
        # held back for legal's approval (`authority.needs_legal`: a decision to pay).
        return or_(
            claim.held.is_(True),
            and_(
                claim.status.in_(states.ALLOWED[Action.review][0]),
                claim.needs_legal.is_(True),
                claim.approved_amount_cents.is_not(None),
                *not_conflicted,
                ~_approved_by_role(actor.role),
            ),
        )
    tiers = authority.tiers_for(actor.role)
    if not tiers:
        return mine
    approvable = and_(
        claim.status.in_(states.ALLOWED[Action.review][0]),
        claim.required_tier.in_(tiers),
        *not_conflicted,
        ~_approved_by_role(actor.role),
    )
    if actor.role in roles.ROLES[Action.settle_payout]:
        return or_(approvable, claim.status.in_(states.ALLOWED[Action.settle_payout][0]))
    return or_(mine, approvable)


def _approved_by_role(role):
    """Someone of this role approved the decision now pending: at director_and_finance it waits on the other role."""
    current_round = select(func.max(tables.Decision.round)).where(tables.Decision.claim_id == tables.Approval.claim_id)
    return exists().where(
        tables.Approval.claim_id == tables.Claim.id,
        tables.Approval.round == current_round.scalar_subquery(),
        tables.Approval.verdict == ApprovalVerdict.approve,
        tables.Approval.approver_role == role,
    )


SORTS = {
    ClaimSort.newest: [tables.Claim.opened_at.desc(), tables.Claim.id],
    ClaimSort.oldest: [tables.Claim.opened_at, tables.Claim.id],
    ClaimSort.largest: [tables.Claim.amount_cents.desc(), tables.Claim.id],
    ClaimSort.smallest: [tables.Claim.amount_cents, tables.Claim.id],
    ClaimSort.updated: [tables.Claim.updated_at.desc(), tables.Claim.id],
    # Most severe first (claims without a severity last), then the wait that began first: the nearest deadline
    # among claims of one severity and state (the exact deadlines, per policy, are in service/queues.py).
    ClaimSort.severity: [
        case((tables.Claim.severity.is_(None), 1), else_=0),
        tables.Claim.severity,
        func.coalesce(tables.Claim.decision_requested_at, tables.Claim.opened_at),
        tables.Claim.id,
    ],
}


def list_claims(
    sessions: sessionmaker,
    *,
    actor: Actor,
    status: ClaimStatus | None = None,
    type: ClaimType | None = None,
    assignee: str | None = None,
    awaiting_me: bool = False,
    stuck: bool | None = None,
    held: bool | None = None,
    opened_from: date | None = None,
    opened_to: date | None = None,
    sort: ClaimSort = ClaimSort.newest,
    limit: int = 50,
    offset: int = 0,
) -> ClaimPage:
    """Claims matching every filter given; days are whole UTC days, both ends included."""
    claim = tables.Claim
    query: Select = select(claim)
    order = SORTS[sort]
    if stuck is not None:
        query = query.where(tables.Claim.stuck_reason.is_not(None) if stuck else tables.Claim.stuck_reason.is_(None))
        if stuck:
            order = [tables.Claim.stuck_since, tables.Claim.id]
    if held is not None:
        query = query.where(tables.Claim.held == held)
    if status:
        query = query.where(tables.Claim.status == status)
    if type:
        query = query.where(tables.Claim.type == type)
    if assignee:
        query = query.where(tables.Claim.assignee == assignee)
    if awaiting_me:
        query = query.where(awaiting(actor))
    if opened_from:
        query = query.where(claim.opened_at >= datetime.combine(opened_from, time.min, UTC))
    if opened_to:
        query = query.where(claim.opened_at < datetime.combine(opened_to + timedelta(days=1), time.min, UTC))
    with sessions() as db:
        total = db.scalar(select(func.count()).select_from(query.subquery()))
        rows = db.scalars(query.order_by(*order).limit(limit).offset(offset))
        items = [ClaimSummary.model_validate(row, from_attributes=True) for row in rows]
    return ClaimPage(items=items, total=total, limit=limit, offset=offset)
