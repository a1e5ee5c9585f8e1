"""What the policy forbids, as pure checks shared by Update validators and handlers.

Each check raises an ApplicationError whose `type` is a stable code (the API maps it to a 4xx)
and whose message a person understands.
"""

from temporalio.exceptions import ApplicationError

from schema.claims import Actor, ApprovalRequest, ClaimStart, DecisionRequest, PayoutDetailsRef
from schema.enums import (
    MONEY_BACK_TYPES,
    ApprovalTier,
    ApprovalVerdict,
    ClaimStatus,
    ClaimType,
    DecisionOutcome,
    PayoutMethod,
    Role,
)
from schema.money import format_cents as money
from schema.policy import Policy

TIER_RANK = {
    ApprovalTier.lead: 1,
    ApprovalTier.manager: 2,
    ApprovalTier.director: 3,
    ApprovalTier.director_and_finance: 4,
}
ROLE_RANK = {Role.lead: 1, Role.manager: 2, Role.director: 3}
NEXT_TIER = {ApprovalTier.lead: ApprovalTier.manager, ApprovalTier.manager: ApprovalTier.director}

EVIDENCE_STATES = (ClaimStatus.evidence_collection, ClaimStatus.specialist_review, ClaimStatus.pending_approval)
WITHDRAW_STATES = EVIDENCE_STATES + (ClaimStatus.approved,)
MONEY_STATES = (ClaimStatus.paying, ClaimStatus.paid, ClaimStatus.payout_failed)


def reject(code: str, message: str) -> ApplicationError:
    return ApplicationError(message, type=code, non_retryable=True)


def require_status(status: ClaimStatus, allowed: tuple[ClaimStatus, ...], action: str) -> None:
    if status not in allowed:
        wanted = " or ".join(s.value for s in allowed)
        raise reject("invalid_state", f"cannot {action}: the claim is {status.value}, not {wanted}")


def check_payout_method(claim_type: ClaimType, method: PayoutMethod) -> None:
    if method == PayoutMethod.refund and claim_type not in MONEY_BACK_TYPES:
        raise reject(
            "invalid_payout_method",
            f"a {claim_type.value} claim is paid by transfer; refunds are for money-back claims",
        )


def check_payout_details(start: ClaimStart, status: ClaimStatus, ref: PayoutDetailsRef) -> None:
    require_status(status, EVIDENCE_STATES, "change payout details")
    check_payout_method(start.request.type, ref.method)


def check_settlement(status: ClaimStatus, actor: Actor, ref: PayoutDetailsRef | None, start: ClaimStart) -> None:
    require_status(status, (ClaimStatus.payout_failed,), "settle the payout")
    if actor.role != Role.finance:
        raise reject("insufficient_authority", "only finance settles a failed payout")
    if ref is not None:
        check_payout_method(start.request.type, ref.method)


def check_decision(
    start: ClaimStart, status: ClaimStatus, req: DecisionRequest, payout: PayoutDetailsRef | None, needs_payout: bool
) -> None:
    require_status(status, (ClaimStatus.specialist_review,), "decide")
    claimed = start.request
    if req.outcome == DecisionOutcome.deny:
        if req.reason_code is None:
            raise reject("reason_required", "a denial needs a reason_code")
        if req.amount_cents is not None:
            raise reject("invalid_amount", "a denial carries no amount")
        return
    if req.reason_code is not None:
        raise reject("invalid_reason", "an approval carries no reason_code")
    if req.amount_cents is None:
        raise reject("amount_required", "an approval needs amount_cents")
    if needs_payout and payout is None:
        raise reject("payout_details_required", "add the payout details (where the money goes) before approving")
    if start.eligibility_issues:
        issues = ", ".join(start.eligibility_issues)
        raise reject("ineligible", f"the claim is not eligible ({issues}); deny it with the matching reason code")
    cap = start.policy.cap(claimed.type)
    if req.amount_cents > cap:
        raise reject(
            "over_cap",
            f"{money(req.amount_cents, claimed.currency)} is above the {claimed.type.value} cap "
            f"of {money(cap, claimed.currency)}",
        )
    if req.amount_cents > claimed.amount_cents:
        raise reject(
            "over_claimed",
            f"{money(req.amount_cents, claimed.currency)} is more than the "
            f"{money(claimed.amount_cents, claimed.currency)} claimed",
        )


def check_approval(
    start: ClaimStart,
    status: ClaimStatus,
    tier: ApprovalTier | None,
    amount_cents: int,
    decided_by: str | None,
    approved_by: list[Actor],
    actor: Actor,
    req: ApprovalRequest,
) -> None:
    require_status(status, (ClaimStatus.pending_approval,), "approve or send back")
    if actor.user_id == decided_by:
        raise reject("conflict_of_interest", "you made this decision; another approver must confirm it")
    if actor.user_id == start.opened_by.user_id:
        raise reject("conflict_of_interest", "you opened this claim; another approver must confirm it")
    if any(a.user_id == actor.user_id for a in approved_by):
        raise reject("already_approved", "you have already approved this decision")
    check_authority(start.policy, tier, amount_cents, approved_by, actor, req.verdict)


def tiers_for(role: Role) -> list[ApprovalTier]:
    """The approval tiers a role may confirm (within its limit), for validators and approval queues alike."""
    rank = ROLE_RANK.get(role, 0)
    tiers = [tier for tier, needed in TIER_RANK.items() if needed <= rank and tier != ApprovalTier.director_and_finance]
    if role in (Role.director, Role.finance):
        tiers.append(ApprovalTier.director_and_finance)
    return tiers


def check_authority(
    policy: Policy,
    tier: ApprovalTier,
    amount_cents: int,
    approved_by: list[Actor],
    actor: Actor,
    verdict: ApprovalVerdict,
) -> None:
    if tier == ApprovalTier.director_and_finance:
        if tier not in tiers_for(actor.role):
            raise reject("insufficient_authority", "this decision needs a director and finance to approve it")
        if verdict == ApprovalVerdict.approve and any(a.role == actor.role for a in approved_by):
            other = "finance" if actor.role == Role.director else "a director"
            raise reject("already_approved", f"a {actor.role.value} has approved already; it now needs {other}")
        return
    if tier not in tiers_for(actor.role) or policy.authority_cents.get(actor.role, 0) < amount_cents:
        raise reject(
            "insufficient_authority",
            f"this decision needs a {tier.value} or above; a {actor.role.value} cannot confirm it",
        )


def check_withdrawal(status: ClaimStatus) -> None:
    if status in MONEY_STATES:
        raise reject(
            "money_moved",
            f"cannot withdraw: the claim is {status.value}; money has moved or is moving "
            "(finance cancels failed payouts)",
        )
    require_status(status, WITHDRAW_STATES, "withdraw")
