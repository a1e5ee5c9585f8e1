"""Claim states and the actions each allows."""

from rules.errors import DomainError
from schema.enums import Action, ClaimStatus

# The states in which a claim is still worked: evidence comes in, people change what is on it.
EVIDENCE_STATES = (
    ClaimStatus.evidence_collection,
    ClaimStatus.specialist_review,
    ClaimStatus.pending_approval,
    ClaimStatus.mediation,
)
# The states in which a claim waits on whoever works it: for evidence, a decision, or an agreement's follow-up.
CASEWORK_STATES = (ClaimStatus.evidence_collection, ClaimStatus.specialist_review, ClaimStatus.mediation)
MONEY_STATES = (ClaimStatus.paying, ClaimStatus.paid, ClaimStatus.payout_failed)

# Each action on a claim: the states that allow it, and how a refusal names it.
ALLOWED: dict[Action, tuple[tuple[ClaimStatus, ...], str]] = {
    Action.add_evidence: (EVIDENCE_STATES, "add evidence"),
    Action.set_payout_details: (EVIDENCE_STATES, "change payout details"),
    Action.complete_evidence: ((ClaimStatus.evidence_collection,), "complete evidence"),
    Action.decide: ((ClaimStatus.specialist_review,), "decide"),
    Action.review: ((ClaimStatus.pending_approval,), "approve or send back"),
    Action.withdraw: ((*EVIDENCE_STATES, ClaimStatus.approved), "withdraw"),
    Action.settle_payout: ((ClaimStatus.payout_failed,), "settle the payout"),
    Action.assign: (EVIDENCE_STATES, "reassign the claim"),
    Action.set_severity: ((*EVIDENCE_STATES, ClaimStatus.approved), "change the severity"),
    Action.hold: ((*EVIDENCE_STATES, ClaimStatus.approved), "put the claim on legal hold"),
    Action.release_hold: ((*EVIDENCE_STATES, ClaimStatus.approved), "release the legal hold"),
    Action.mediate: ((ClaimStatus.evidence_collection, ClaimStatus.specialist_review), "record an agreement"),
    Action.settle_mediation: ((ClaimStatus.mediation,), "record how the agreement ended"),
}


def require(action: Action, status: ClaimStatus) -> None:
    """Refuse an action the claim's state does not allow."""
    allowed, verb = ALLOWED[action]
    if action == Action.withdraw and status in MONEY_STATES:
        raise DomainError(
            "money_moved",
            f"cannot withdraw: the claim is {status.value}; money has moved or is moving "
            "(finance cancels failed payouts)",
        )
    if status not in allowed:
        wanted = " or ".join(s.value for s in allowed)
        raise DomainError("invalid_state", f"cannot {verb}: the claim is {status.value}, not {wanted}")


def allowed_actions(status: ClaimStatus) -> list[Action]:
    """The actions the claim's state allows now, in the order people take them."""
    return [action for action, (states, _) in ALLOWED.items() if status in states]
