"""Where the money may go, and who settles a payout the provider refused."""

from rules.errors import DomainError
from rules.states import require
from schema.claim_state import ClaimState
from schema.claims import Actor, ClaimStart, PayoutDetailsRef
from schema.enums import MONEY_BACK_TYPES, Action, ClaimType, PayoutMethod, Role


def check_payout_method(claim_type: ClaimType, method: PayoutMethod) -> None:
    if method == PayoutMethod.refund and claim_type not in MONEY_BACK_TYPES:
        raise DomainError(
            "invalid_payout_method",
            f"a {claim_type.value} claim is paid by transfer; refunds are for money-back claims",
        )


def check_payout_details(start: ClaimStart, state: ClaimState, ref: PayoutDetailsRef) -> None:
    require(Action.set_payout_details, state.status)
    check_payout_method(start.request.type, ref.method)


def check_settlement(start: ClaimStart, state: ClaimState, actor: Actor, ref: PayoutDetailsRef | None) -> None:
    require(Action.settle_payout, state.status)
    if actor.role != Role.finance:
        raise DomainError("insufficient_authority", "only finance settles a failed payout")
    if ref is not None:
        check_payout_method(start.request.type, ref.method)
