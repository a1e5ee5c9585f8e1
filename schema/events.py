"""What the claim workflow asks the database to record: one event per transition or fact.

Each event has a key fixed by the workflow (claim id and sequence number), so recording it a
second time, after a retried activity or a replayed worker, changes nothing.
"""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from schema.claims import Actor, ApprovalRequest, ClaimStart, DecisionRequest, EvidenceAdd, MediationRequest
from schema.enums import ApprovalTier, ClaimStatus, EvidenceSource, HoldReason, MediationOutcome, Severity
from schema.names import payout_key


class ClaimPatch(BaseModel):
    """The claim columns an event may change, typed; an event names the ones it sets."""

    model_config = ConfigDict(extra="forbid")

    assignee: str | None = None
    required_tier: ApprovalTier | None = None
    approved_amount_cents: int | None = None
    decided_by: str | None = None
    decision_requested_at: datetime | None = None
    payout_details_id: int | None = None
    payout_details_by: str | None = None
    severity: Severity | None = None
    held: bool | None = None
    hold_reason: HoldReason | None = None


class Notification(BaseModel):
    recipient: str
    kind: str
    message: str


class ClaimEvent(BaseModel):
    key: str
    claim_id: str
    at: datetime
    action: str
    actor: Actor | None = None
    from_status: ClaimStatus | None = None
    to_status: ClaimStatus | None = None
    reason: str | None = None
    round: int = 0
    patch: dict[str, Any] = {}
    opened: ClaimStart | None = None
    evidence: EvidenceAdd | None = None
    evidence_late: bool = False
    decision: DecisionRequest | None = None
    approval: ApprovalRequest | None = None
    notification: Notification | None = None
    sla_breach: str | None = None
    payout_details_id: int | None = None  # the details the event sets, or an approval confirmed
    mediation: MediationRequest | None = None  # an agreement recorded, followed up until `mediation_due`
    mediation_due: datetime | None = None
    mediation_outcome: MediationOutcome | None = None  # how the agreement waiting on the claim ended


class MailOrder(BaseModel):
    """Mail one recorded notification to the claim's customer or pro: identifiers only, never an address or text.

    The send activity reads the address and the notification's text from the database. With
    `link_until`, the mail carries a new evidence link for the party, made by `link_by`, expiring
    then; with `link_of`, it carries again the link of the mail for that notification key.
    """

    claim_id: str
    key: str  # the notification's event key: the mail's own key, and its Message-ID's
    kind: str
    party: EvidenceSource
    link_until: datetime | None = None
    link_by: str | None = None
    link_of: str | None = None


class StuckMark(BaseModel):
    """A step of the claim's process could not be recorded: the claim says so, and finance and admin are told."""

    claim_id: str
    number: int
    at: datetime
    reason: str


class PayoutOrder(BaseModel):
    claim_id: str
    attempt: int
    payout_details_id: int | None
    amount_cents: int
    currency: str
    at: datetime

    @property
    def idempotency_key(self) -> str:
        return payout_key(self.claim_id, self.attempt)


class PayoutOutcome(BaseModel):
    paid: bool
    provider_ref: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None
