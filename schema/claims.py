"""Claims and the human actions on them: what the API accepts, the workflow carries and the CLI shows."""

import re
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schema.bounds import Day, Email, Id
from schema.enums import (
    ApprovalTier,
    ApprovalVerdict,
    Channel,
    ClaimStatus,
    ClaimType,
    DecisionOutcome,
    DenialReason,
    EvidenceKind,
    EvidenceSource,
    HoldReason,
    MediationKind,
    MediationOutcome,
    PayoutMethod,
    PayoutStatus,
    Role,
    Severity,
)
from schema.policy import Policy

# Far above any claim, far below a 64-bit column: the hard bound of any amount we accept.
AMOUNT_LIMIT_CENTS = 10**12


class Strict(BaseModel):
    """What people send: no unknown fields, and no NUL characters, which PostgreSQL cannot store."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, v: object) -> object:
        if isinstance(v, str) and "\x00" in v:
            raise ValueError("NUL characters are not allowed")
        return v


Text = Field(min_length=1, max_length=200)
# Cents are JSON integers: "100", true or 100.0 are refused rather than guessed at.
Cents = Field(gt=0, le=AMOUNT_LIMIT_CENTS, strict=True)


class Signature(BaseModel):
    """The service's word, under its signing key, that this person asked for this action on this claim, now.

    `workflows.signed_actions` makes and checks it; the workflow believes no actor without one.
    """

    claim_id: str
    action: str
    at: datetime
    nonce: str
    args_sha256: str
    mac: str


class Actor(Strict):
    """The person behind an action, as the API authenticated them; signed once it is sent to a claim."""

    user_id: str
    name: str
    role: Role
    signature: Signature | None = None


class ClaimRequest(Strict):
    """A claim as its workflow carries it, checked as claims were when it was opened.

    People open claims as `ClaimOpen`, which adds the bounds of `schema.bounds`; the workflow's
    copy does not repeat them, so a claim opened before a bound existed still replays.
    """

    customer_id: str = Text
    pro_id: str = Text
    project_id: str = Text
    type: ClaimType
    amount_cents: int = Cents
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    incident_date: date
    channel: Channel
    description: str = Field(min_length=1, max_length=10_000)

    @field_validator("currency", mode="before")
    @classmethod
    def _upper(cls, v: object) -> object:
        return v.upper() if isinstance(v, str) else v

    @field_validator("incident_date", mode="before")
    @classmethod
    def _iso_date(cls, v: object) -> object:
        if isinstance(v, date) or (isinstance(v, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", v)):
            return v
        raise ValueError("write the date as YYYY-MM-DD")


class ClaimOpen(ClaimRequest):
    """A claim as people open it: ids without control or format characters, a day in 2000..2100."""

    customer_id: Id
    pro_id: Id
    project_id: Id
    incident_date: Day


class PayoutDetails(Strict):
    """Where the money goes. Stored in the database only; the workflow carries a reference."""

    method: PayoutMethod
    account_id: str | None = Field(default=None, pattern=r"^acct_[A-Za-z0-9]{1,64}$")
    charge_id: str | None = Field(default=None, pattern=r"^ch_[A-Za-z0-9]{1,64}$")

    @model_validator(mode="after")
    def _one_destination(self) -> "PayoutDetails":
        wanted = "account_id" if self.method == PayoutMethod.transfer else "charge_id"
        other = "charge_id" if wanted == "account_id" else "account_id"
        if getattr(self, wanted) is None or getattr(self, other) is not None:
            raise ValueError(f"a {self.method.value} needs {wanted} and no {other}")
        return self

    @property
    def destination(self) -> str:
        return self.account_id or self.charge_id


class PayoutDetailsRef(BaseModel):
    """What the workflow knows of payout details: their row and their method, never the account."""

    id: int
    method: PayoutMethod


class Contacts(Strict):
    """How to reach the two parties. Personal data: kept in the database, never in a workflow's history."""

    customer_email: Email | None = None
    pro_email: Email | None = None


class ClaimOpenBody(ClaimOpen):
    """What the API takes to open a claim: the claim, and optionally where to pay it and the parties' emails."""

    payout: PayoutDetails | None = None
    customer_email: Email | None = None
    pro_email: Email | None = None

    @property
    def contacts(self) -> Contacts:
        return Contacts(customer_email=self.customer_email, pro_email=self.pro_email)

    @property
    def claim(self) -> ClaimOpen:
        return ClaimOpen.model_validate(self.model_dump(exclude={"payout", "customer_email", "pro_email"}))


class FileRef(Strict):
    """An evidence file in the evidence store, named by the SHA-256 of its content."""

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(max_length=200)
    size_bytes: int = Field(ge=0)


class EvidenceAdd(Strict):
    kind: EvidenceKind
    source: EvidenceSource
    note: str | None = Field(default=None, max_length=10_000)
    file: FileRef | None = None

    @model_validator(mode="after")
    def _has_content(self) -> "EvidenceAdd":
        if not self.note and self.file is None:
            raise ValueError("evidence needs a note or a file")
        return self


class DecisionRequest(Strict):
    outcome: DecisionOutcome
    amount_cents: int | None = Field(default=None, gt=0, le=AMOUNT_LIMIT_CENTS, strict=True)
    reason_code: DenialReason | None = None
    rationale: str = Field(min_length=1, max_length=10_000)


class ApprovalRequest(Strict):
    verdict: ApprovalVerdict
    note: str = Field(default="", max_length=10_000)
    # The payout details the approver saw; if they changed since, the approval is refused.
    payout_details_id: int | None = Field(default=None, gt=0)


class AssignRequest(Strict):
    """A lead hands a claim's casework to another person."""

    assignee: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=10_000)


class Assignment(BaseModel):
    """The `assign` Update's one input: who asks, and the request."""

    actor: Actor
    request: AssignRequest


class ProStatementAsk(BaseModel):
    """The `request_pro_statement` Update's one input: who asks the pro for their statement."""

    actor: Actor


class SeverityRequest(Strict):
    """Whoever works the claim judges it more or less urgent than proposed, and says why."""

    severity: Severity
    reason: str = Field(min_length=1, max_length=10_000)


class SeverityChange(BaseModel):
    """The `set_severity` Update's one input: who asks, and the request."""

    actor: Actor
    request: SeverityRequest


class HoldRequest(Strict):
    """A claim put on legal hold: why (a reason code) and a note."""

    reason_code: HoldReason
    note: str = Field(min_length=1, max_length=10_000)


class HoldPlacement(BaseModel):
    """The `hold` Update's one input."""

    actor: Actor
    request: HoldRequest


class HoldReleaseRequest(Strict):
    note: str = Field(min_length=1, max_length=10_000)


class HoldRelease(BaseModel):
    """The `release_hold` Update's one input."""

    actor: Actor
    request: HoldReleaseRequest


class MediationRequest(Strict):
    """An agreement between the customer and the pro, instead of a guarantee payout: what the pro does, its
    terms, the evidence on the claim that shows it (a message, a signed note), and the day to follow up by."""

    kind: MediationKind
    terms: str = Field(min_length=1, max_length=10_000)
    evidence_ids: list[int] = Field(min_length=1, max_length=50)
    follow_up_by: Day

    @field_validator("evidence_ids")
    @classmethod
    def _ids(cls, ids: list[int]) -> list[int]:
        if any(i <= 0 for i in ids):
            raise ValueError("evidence ids are positive")
        return sorted(set(ids))


class MediationAgreement(BaseModel):
    """The `mediate` Update's one input."""

    actor: Actor
    request: MediationRequest


class MediationOutcomeRequest(Strict):
    """What the customer said at the follow-up: the pro kept the agreement, or did not."""

    outcome: MediationOutcome
    note: str = Field(min_length=1, max_length=10_000)

    @field_validator("outcome")
    @classmethod
    def _said(cls, outcome: MediationOutcome) -> MediationOutcome:
        if outcome == MediationOutcome.expired:
            raise ValueError("an agreement expires by itself at its deadline; say kept or broken")
        return outcome


class MediationSettlement(BaseModel):
    """The `settle_mediation` Update's one input."""

    actor: Actor
    request: MediationOutcomeRequest


class WithdrawRequest(Strict):
    reason: str = Field(min_length=1, max_length=10_000)


class PayoutCancel(Strict):
    reason: str = Field(min_length=1, max_length=10_000)


class PayoutRetry(Strict):
    """Finance retries a refused payout as a new attempt, optionally to new payout details."""

    reason: str = Field(min_length=1, max_length=10_000)
    payout: PayoutDetails | None = None


class ClaimStart(BaseModel):
    """Everything the claim workflow needs, fixed when the claim is opened."""

    claim_id: str
    request: ClaimRequest
    opened_by: Actor
    opened_at: datetime
    policy: Policy
    risk_flags: list[str] = []
    eligibility_issues: list[str] = []
    # Proposed at intake under a policy with severity rules (v4 on); None before.
    severity: Severity | None = None
    # Payout details given with the claim, stored by the opener: the claim's first step records them.
    payout: PayoutDetailsRef | None = None


class EvidenceView(BaseModel):
    id: int
    kind: EvidenceKind
    source: EvidenceSource
    note: str | None
    file: FileRef | None
    added_by: str
    added_at: datetime
    after_decision_requested: bool


class DecisionView(BaseModel):
    round: int
    outcome: DecisionOutcome
    amount_cents: int | None
    reason_code: DenialReason | None
    rationale: str
    decided_by: str
    decided_at: datetime


class MediationView(BaseModel):
    id: int
    kind: MediationKind
    terms: str
    evidence_ids: list[int]
    due_at: datetime  # the end of the follow-up day (UTC)
    agreed_by: str
    agreed_at: datetime
    outcome: MediationOutcome | None  # None while the claim waits for the follow-up
    outcome_note: str | None
    outcome_by: str | None  # None when the deadline passed without a complaint
    outcome_at: datetime | None


class ApprovalView(BaseModel):
    round: int
    verdict: ApprovalVerdict
    note: str
    approver_id: str
    approver_role: Role
    at: datetime
    payout_details_id: int | None = None


class PayoutDetailsView(BaseModel):
    id: int
    method: PayoutMethod
    destination: str
    added_by: str
    added_at: datetime


class ContactView(BaseModel):
    """One party's address as it was set; the newest per party is the one in use."""

    party: EvidenceSource
    email: str
    set_by: str
    set_at: datetime


class PayoutView(BaseModel):
    attempt: int
    method: PayoutMethod | None
    idempotency_key: str
    amount_cents: int
    currency: str
    status: PayoutStatus
    provider: str
    provider_ref: str | None
    created_at: datetime
    completed_at: datetime | None
    failure_code: str | None = None


class NotificationView(BaseModel):
    recipient: str
    kind: str
    message: str
    at: datetime


class TimelineEntry(BaseModel):
    at: datetime
    actor_id: str | None
    actor_role: str | None
    action: str
    from_status: ClaimStatus | None
    to_status: ClaimStatus | None
    reason: str | None


class ClaimSummary(BaseModel):
    id: str
    customer_id: str
    pro_id: str
    project_id: str
    type: ClaimType
    status: ClaimStatus
    amount_cents: int
    currency: str
    approved_amount_cents: int | None
    incident_date: date
    channel: Channel
    description: str
    opened_by: str
    opened_at: datetime
    updated_at: datetime
    assignee: str | None
    required_tier: ApprovalTier | None
    policy_version: str
    risk_flags: list[str]
    eligibility_issues: list[str]
    sla_breaches: list[str]
    decision_requested_at: datetime | None = None
    payout_details_id: int | None = None
    payout_details_by: str | None = None
    stuck_reason: str | None = None
    stuck_since: datetime | None = None
    severity: Severity | None = None
    held: bool = False
    hold_reason: HoldReason | None = None
    held_since: datetime | None = None
    needs_legal: bool = False


class ClaimDetail(ClaimSummary):
    evidence: list[EvidenceView]
    decisions: list[DecisionView]
    approvals: list[ApprovalView]
    payouts: list[PayoutView]
    payout_details: list[PayoutDetailsView]
    contacts: list[ContactView] = []
    mediations: list[MediationView] = []
    notifications: list[NotificationView]
    timeline: list[TimelineEntry]


class ClaimPage(BaseModel):
    items: list[ClaimSummary]
    total: int
    limit: int
    offset: int
