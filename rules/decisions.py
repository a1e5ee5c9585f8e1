"""What a specialist may decide: a denial with a reason, or an amount within the claim, the cap and eligibility."""

from rules.errors import DomainError
from rules.states import require
from schema.claim_state import ClaimState
from schema.claims import ClaimStart, DecisionRequest
from schema.enums import Action, DecisionOutcome
from schema.money import format_cents as money


def check_decision(start: ClaimStart, state: ClaimState, req: DecisionRequest) -> None:
    require(Action.decide, state.status)
    claimed = start.request
    if req.outcome == DecisionOutcome.deny:
        if req.reason_code is None:
            raise DomainError("reason_required", "a denial needs a reason_code")
        if req.amount_cents is not None:
            raise DomainError("invalid_amount", "a denial carries no amount")
        return
    if req.reason_code is not None:
        raise DomainError("invalid_reason", "an approval carries no reason_code")
    if req.amount_cents is None:
        raise DomainError("amount_required", "an approval needs amount_cents")
    if state.needs_payout_details and state.payout is None:
        raise DomainError("payout_details_required", "add the payout details (where the money goes) before approving")
    if start.eligibility_issues:
        issues = ", ".join(start.eligibility_issues)
        raise DomainError("ineligible", f"the claim is not eligible ({issues}); deny it with the matching reason code")
    cap = start.policy.cap(claimed.type)
    if req.amount_cents > cap:
        raise DomainError(
            "over_cap",
            f"{money(req.amount_cents, claimed.currency)} is above the {claimed.type.value} cap "
            f"of {money(cap, claimed.currency)}",
        )
    if req.amount_cents > claimed.amount_cents:
        raise DomainError(
            "over_claimed",
            f"{money(req.amount_cents, claimed.currency)} is more than the "
            f"{money(claimed.amount_cents, claimed.currency)} claimed",
        )
