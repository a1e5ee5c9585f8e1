"""What waits on a person, for their home page: their casework, the approvals they may give, payouts to settle,
the holds legal releases.

Each entry carries its deadline under the claim's own policy version (and its severity), so the most
urgent comes first: the most severe (claims without a severity after s4), then SLA breaches, then the
nearest deadline.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from rules import deadlines
from rules.states import CASEWORK_STATES
from schema import tables
from schema.claims import Actor, ClaimSummary
from schema.enums import ClaimStatus
from schema.policy import Policy, load_policy
from service.queries import awaiting

LIMIT = 200


@dataclass(frozen=True)
class Waiting:
    claim: ClaimSummary
    since: datetime | None  # when this wait began
    due: datetime | None  # when it should end, under the claim's policy

    @property
    def late(self) -> bool:
        return bool(self.claim.sla_breaches) or (self.due is not None and self.due < datetime.now(UTC))


def _policy(version: str) -> Policy | None:
    try:
        return load_policy(version)
    except LookupError:  # a policy file that is not shipped (a test's, a retired one): no deadline to show
        return None


def _urgent_first(items: list[Waiting]) -> list[Waiting]:
    never = datetime.max.replace(tzinfo=UTC)
    return sorted(items, key=lambda w: (w.claim.severity or "s9", not w.late, w.due or never, w.claim.id))


def casework(sessions: sessionmaker, actor: Actor) -> list[Waiting]:
    """The claims this person works now: evidence to chase, decisions to make, agreements to follow up."""
    claim = tables.Claim
    with sessions() as db:
        rows = list(
            db.scalars(
                select(claim).where(claim.assignee == actor.user_id, claim.status.in_(CASEWORK_STATES)).limit(LIMIT)
            )
        )
        agreements = _open_agreements(db, [r.id for r in rows if r.status == ClaimStatus.mediation])
        items = []
        for row in rows:
            summary, policy = ClaimSummary.model_validate(row, from_attributes=True), _policy(row.policy_version)
            if row.status == ClaimStatus.evidence_collection:
                since, due = row.opened_at, policy and deadlines.evidence_deadline(policy, row.opened_at)
            elif row.status == ClaimStatus.mediation:
                since, due = agreements.get(row.id, (row.updated_at, None))
            else:
                since = row.decision_requested_at
                due = policy and since and deadlines.decision_due(policy, since, row.severity)
            items.append(Waiting(summary, since, due))
    return _urgent_first(items)


def _open_agreements(db: Session, claim_ids: list[str]) -> dict[str, tuple[datetime, datetime]]:
    """When each claim's agreement being followed up was made, and when its follow-up ends."""
    m = tables.Mediation
    query = select(m.claim_id, m.agreed_at, m.due_at).where(m.claim_id.in_(claim_ids), m.outcome.is_(None))
    return {claim_id: (agreed, due) for claim_id, agreed, due in db.execute(query)}


def held(sessions: sessionmaker) -> list[ClaimSummary]:
    """Claims on legal hold, the longest held first: only legal releases them."""
    claim = tables.Claim
    with sessions() as db:
        rows = db.scalars(select(claim).where(claim.held.is_(True)).order_by(claim.held_since, claim.id).limit(LIMIT))
        return [ClaimSummary.model_validate(row, from_attributes=True) for row in rows]


def approvals(sessions: sessionmaker, actor: Actor) -> list[Waiting]:
    """Decisions this person may approve now (the `awaiting=me` rules), each since its decision or escalation."""
    claim, audit = tables.Claim, tables.AuditEntry
    with sessions() as db:
        rows = list(
            db.scalars(select(claim).where(awaiting(actor), claim.status == ClaimStatus.pending_approval).limit(LIMIT))
        )
        since = dict(
            db.execute(
                select(audit.claim_id, func.max(audit.at))
                .where(audit.claim_id.in_([r.id for r in rows]), audit.action.in_(("decided", "escalated")))
                .group_by(audit.claim_id)
            ).all()
        )
        items = []
        for row in rows:
            policy, began = _policy(row.policy_version), since.get(row.id)
            due = policy and began and deadlines.approval_due(policy, began, row.severity)
            items.append(Waiting(ClaimSummary.model_validate(row, from_attributes=True), began, due))
    return _urgent_first(items)


def with_status(sessions: sessionmaker, status: ClaimStatus) -> list[ClaimSummary]:
    """Claims in one state, the longest waiting first (finance's refused payouts)."""
    with sessions() as db:
        rows = db.scalars(
            select(tables.Claim).where(tables.Claim.status == status).order_by(tables.Claim.updated_at).limit(LIMIT)
        )
        return [ClaimSummary.model_validate(row, from_attributes=True) for row in rows]


def stuck(sessions: sessionmaker) -> list[ClaimSummary]:
    with sessions() as db:
        rows = db.scalars(
            select(tables.Claim)
            .where(tables.Claim.stuck_reason.is_not(None))
            .order_by(tables.Claim.stuck_since)
            .limit(LIMIT)
        )
        return [ClaimSummary.model_validate(row, from_attributes=True) for row in rows]
