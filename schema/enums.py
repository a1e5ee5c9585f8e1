"""The fixed vocabularies of a claim. String enums, so they read the same in JSON, SQL and history."""

from enum import StrEnum


class ClaimType(StrEnum):
    property_damage = "property_damage"
    work_not_done = "work_not_done"
    not_as_agreed = "not_as_agreed"


class ClaimStatus(StrEnum):
    evidence_collection = "evidence_collection"
    specialist_review = "specialist_review"
    pending_approval = "pending_approval"
    approved = "approved"
    paying = "paying"
    paid = "paid"
    denied = "denied"
    withdrawn = "withdrawn"
    closed_no_evidence = "closed_no_evidence"
    payout_failed = "payout_failed"
    payout_cancelled = "payout_cancelled"
    # The parties agreed between themselves; the claim waits for the follow-up deadline.
    mediation = "mediation"
    # The customer confirmed the agreement was kept, or the deadline passed without a complaint: no payout.
    resolved_by_mediation = "resolved_by_mediation"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset(
    {
        ClaimStatus.paid,
        ClaimStatus.denied,
        ClaimStatus.withdrawn,
        ClaimStatus.closed_no_evidence,
        ClaimStatus.payout_cancelled,
        ClaimStatus.resolved_by_mediation,
    }
)


class Channel(StrEnum):
    phone = "phone"
    email = "email"
    chat = "chat"
    web = "web"


class Role(StrEnum):
    specialist = "specialist"
    lead = "lead"
    manager = "manager"
    director = "director"
    finance = "finance"
    admin = "admin"
    # Releases legal holds, and approves a claim released from an injury or legal-threat hold before it pays.
    legal = "legal"
    # A customer or pro adding evidence through a signed link: no user, no token, no sign-in; only evidence.
    party = "party"


# The roles people are given; `party` belongs to evidence links only and is never a user's.
STAFF_ROLES = tuple(role for role in Role if role != Role.party)


class Severity(StrEnum):
    """How urgent a claim is: `s1` (safety: injury, theft, threat) to `s4` (minor). Sorts most urgent first."""

    s1 = "s1"
    s2 = "s2"
    s3 = "s3"
    s4 = "s4"


class HoldReason(StrEnum):
    """Why a claim is on legal hold."""

    attorney_letter = "attorney_letter"
    injury = "injury"
    police_report = "police_report"
    legal_threat = "legal_threat"
    regulator_inquiry = "regulator_inquiry"


# Holds after which the claim also needs a legal approval before it pays.
LEGAL_REVIEW_HOLDS = frozenset({HoldReason.injury, HoldReason.legal_threat})


class MediationKind(StrEnum):
    """What the pro agreed to do instead of a guarantee payout."""

    pro_refunds = "pro_refunds"  # the pro refunds the customer directly
    pro_returns = "pro_returns"  # the pro comes back to fix the work


class MediationOutcome(StrEnum):
    """What the customer says when the specialist follows up."""

    kept = "kept"  # the pro did as agreed: the claim ends resolved_by_mediation
    broken = "broken"  # the pro did not: the claim goes back to specialist_review, the agreement on it
    expired = "expired"  # the deadline passed without a complaint: resolved_by_mediation too


class EvidenceSource(StrEnum):
    customer = "customer"
    pro = "pro"
    specialist = "specialist"


class EvidenceKind(StrEnum):
    photo = "photo"
    video = "video"
    invoice = "invoice"
    estimate = "estimate"
    contract = "contract"
    message = "message"
    note = "note"
    other = "other"


class DecisionOutcome(StrEnum):
    approve = "approve"
    deny = "deny"


class DenialReason(StrEnum):
    outside_filing_window = "outside_filing_window"
    not_hired_on_platform = "not_hired_on_platform"
    outside_original_scope = "outside_original_scope"
    excluded_peril = "excluded_peril"
    insufficient_evidence = "insufficient_evidence"
    duplicate_claim = "duplicate_claim"
    over_cap = "over_cap"
    other_coverage_primary = "other_coverage_primary"


class ApprovalVerdict(StrEnum):
    approve = "approve"
    send_back = "send_back"


class ApprovalTier(StrEnum):
    """Who must confirm a decision; escalation moves a claim up this list."""

    lead = "lead"
    manager = "manager"
    director = "director"
    director_and_finance = "director_and_finance"


class PayoutStatus(StrEnum):
    pending = "pending"
    paid = "paid"
    failed = "failed"


class PayoutMethod(StrEnum):
    """A transfer to the claimant's connected account, or a refund of the charge they paid."""

    transfer = "transfer"
    refund = "refund"


MONEY_BACK_TYPES = frozenset({ClaimType.work_not_done, ClaimType.not_as_agreed})


class Action(StrEnum):
    """What a person asks to do; `rules` says in which states and by which roles."""

    open = "open"
    add_evidence = "add_evidence"
    complete_evidence = "complete_evidence"
    set_payout_details = "set_payout_details"
    decide = "decide"
    review = "review"
    withdraw = "withdraw"
    settle_payout = "settle_payout"
    assign = "assign"
    read_claims = "read_claims"
    read_finance = "read_finance"
    read_history = "read_history"  # Temporal histories decoded (the Temporal UI, the CLI), through the codec endpoint
    verify_audit = "verify_audit"
    manage_users = "manage_users"  # add people, change roles, deactivate, new tokens and passwords
    refer = "refer"  # hand a claim's question to another team
    handle_referral = "handle_referral"  # take a team's referral, and answer it
    read_kpis = "read_kpis"  # the KPI report and the risk signals: those who oversee the work, finance, admin
    set_severity = "set_severity"  # the specialist's judgment of how urgent the claim is, with a reason
    hold = "hold"  # put a claim on legal hold: its deadlines stop and no payout starts
    release_hold = "release_hold"  # legal only
    mediate = "mediate"  # record an agreement between the customer and the pro, with a follow-up deadline
    settle_mediation = "settle_mediation"  # record what the customer said: the agreement was kept, or broken


class Team(StrEnum):
    """The teams Trust & Safety hands a claim's question to."""

    legal = "legal"
    payments_risk = "payments_risk"
    pro_quality = "pro_quality"
    law_enforcement = "law_enforcement"  # a request from the police or a court, handled with legal


class ReferralStatus(StrEnum):
    open = "open"  # waiting for someone on the team to take it
    taken = "taken"  # someone owns it
    answered = "answered"


class ClaimSort(StrEnum):
    """How a list of claims is ordered."""

    newest = "newest"
    oldest = "oldest"
    largest = "largest"
    smallest = "smallest"
    updated = "updated"
    severity = "severity"  # most severe first, then the nearest deadline
