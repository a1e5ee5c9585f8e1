"""Plants claims with known timestamps straight into the database: claims, their timeline, payouts, findings.

What the KPI and signal tests read is the database, so they write it as the workflow would have
(the claim's milestones by the activity's own `mark_milestones`), at moments they choose, and
compute every figure by hand. No workflow runs for these claims.
"""

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime

from activities.claims import mark_milestones
from schema import tables
from schema.enums import ClaimStatus


@dataclass
class Event:
    action: str
    at: datetime
    to_status: ClaimStatus | None = None
    reason: str | None = None


@dataclass
class Planted:
    id: str
    events: list[Event] = field(default_factory=list)


class Planter:
    def __init__(self, sessions, tag: str | None = None):
        self.sessions = sessions
        self.tag = tag or uuid.uuid4().hex[:6]
        self.count = 0

    def claim(
        self,
        opened_by: str,
        opened_at: datetime,
        events: list[Event] = (),
        *,
        type: str = "property_damage",
        channel: str = "phone",
        amount_cents: int = 10_000,
        currency: str = "USD",
        decided_by: str | None = None,
        tier: str | None = None,
        approved_cents: int | None = None,
        breaches: list[str] = (),
        customer: str | None = None,
        pro: str | None = None,
        project: str | None = None,
        payouts: list[tuple[str, int, datetime, str | None]] = (),
        decisions: list[tuple[int, str, datetime]] = (),
    ) -> str:
        """A claim and its timeline; its status is the last an event moved it to. Payouts: (status, cents, at, code)."""
        self.count += 1
        claim_id = f"k{self.tag}{self.count:04d}"
        status = ClaimStatus.evidence_collection
        for event in events:
            status = event.to_status or status
        last = max([opened_at, *(e.at for e in events), *(p[2] for p in payouts)])
        timeline = [Event("opened", opened_at, ClaimStatus.evidence_collection), *events]
        with self.sessions.begin() as db:
            claim = tables.Claim(
                id=claim_id,
                customer_id=customer or f"cus_{claim_id}",
                pro_id=pro or f"pro_{claim_id}",
                project_id=project or f"prj_{claim_id}",
                type=type,
                status=status,
                amount_cents=amount_cents,
                currency=currency,
                approved_amount_cents=approved_cents,
                incident_date=date(2000, 1, 1),
                channel=channel,
                description="planted",
                opened_by=opened_by,
                opened_at=opened_at,
                updated_at=last,
                assignee=opened_by,
                required_tier=tier,
                decided_by=decided_by,
                policy_version="v1",
                risk_flags=[],
                eligibility_issues=[],
                sla_breaches=list(breaches),
            )
            for event in timeline:
                mark_milestones(claim, event.action, event.to_status, event.at)
            db.add(claim)
            db.flush()
            for seq, event in enumerate(timeline, 1):
                db.add(
                    tables.AuditEntry(
                        claim_id=claim_id,
                        event_key=f"{claim_id}:{seq:05d}",
                        at=event.at,
                        actor_id=None,
                        action=event.action,
                        to_status=event.to_status,
                        reason=event.reason,
                    )
                )
            for number, (cents, by, at) in enumerate(decisions, 1):
                db.add(
                    tables.Decision(
                        claim_id=claim_id,
                        event_key=f"{claim_id}:d{number}",
                        round=number,
                        outcome="approve",
                        amount_cents=cents,
                        rationale="planted",
                        decided_by=by,
                        decided_at=at,
                    )
                )
            for attempt, (status_, cents, at, code) in enumerate(payouts, 1):
                db.add(
                    tables.Payout(
                        claim_id=claim_id,
                        attempt=attempt,
                        idempotency_key=f"claim-{claim_id}-payout-{attempt}",
                        amount_cents=cents,
                        currency=currency,
                        status=status_,
                        method="transfer",
                        provider="stripe",
                        provider_ref=f"tr_{claim_id}_{attempt}" if status_ == "paid" else None,
                        created_at=at,
                        completed_at=at,
                        failure_code=code,
                    )
                )
        return claim_id

    def reconciliation(self, finished_at: datetime, findings: list[tuple[str, str, str | None]]) -> str:
        """A finished reconciliation with its findings: (kind, key, claim id)."""
        self.count += 1
        run_id = f"reconciliation-{self.tag}{self.count}"
        with self.sessions.begin() as db:
            db.add(
                tables.Reconciliation(
                    id=run_id,
                    date_from=finished_at.date(),
                    date_to=finished_at.date(),
                    status="done",
                    started_at=finished_at,
                    finished_at=finished_at,
                    counts={},
                )
            )
            db.flush()
            for kind, key, claim_id in findings:
                db.add(
                    tables.ReconciliationFinding(
                        reconciliation_id=run_id, kind=kind, key=key, claim_id=claim_id, detail="planted"
                    )
                )
        return run_id
