"""When each wait on a claim ends, and whose move it is: the policy's windows and SLAs applied to a claim."""

from dataclasses import dataclass
from datetime import datetime

from schema.enums import ClaimStatus, Severity
from schema.policy import Policy


@dataclass(frozen=True)
class NextStep:
    """What the claim waits for, from whom (a user id, `tier:...`, `customer`, `payments`) and until when."""

    what: str
    waits_on: str | None
    due: datetime | None


def evidence_deadline(policy: Policy, opened_at: datetime) -> datetime:
    return opened_at + policy.evidence_window()


def decision_due(policy: Policy, requested_at: datetime, severity: Severity | None = None) -> datetime:
    return requested_at + policy.decision_sla(severity)


def approval_due(policy: Policy, waiting_since: datetime, severity: Severity | None = None) -> datetime:
    """`waiting_since`: the decision, or the escalation that last raised its tier."""
    return waiting_since + policy.approval_sla(severity)


def next_step(
    policy: Policy,
    status: ClaimStatus,
    assignee: str | None,
    opened_at: datetime,
    decision_requested_at: datetime | None,
    approval_waiting_since: datetime | None,
    severity: Severity | None = None,
    follow_up_due: datetime | None = None,
) -> NextStep:
    """`follow_up_due`: when the follow-up of the agreement the claim waits on ends (in mediation)."""
    if status == ClaimStatus.evidence_collection:
        return NextStep("evidence, then the evidence window closes", assignee, evidence_deadline(policy, opened_at))
    if status == ClaimStatus.specialist_review:
        due = decision_requested_at and decision_due(policy, decision_requested_at, severity)
        return NextStep("a decision: pay an amount or deny", assignee, due)
    if status == ClaimStatus.pending_approval:
        due = approval_waiting_since and approval_due(policy, approval_waiting_since, severity)
        return NextStep("an approval of the decision and where it pays", assignee, due)
    if status == ClaimStatus.mediation:
        what = "the customer's word on the agreement; without a complaint the claim closes as resolved"
        return NextStep(what, assignee, follow_up_due)
    if status in (ClaimStatus.approved, ClaimStatus.paying):
        return NextStep("the payout, which is on its way", "payments", None)
    if status == ClaimStatus.payout_failed:
        return NextStep("finance: retry the refused payout or cancel it", "tier:finance", None)
    return NextStep("nothing: the claim has ended", None, None)
