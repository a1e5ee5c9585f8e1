"""Legal holds: while a claim is held its deadlines stop and no payout starts; only legal releases it."""

from rules.errors import DomainError
from rules.states import require
from schema.claim_state import ClaimState
from schema.enums import Action


def check_hold(state: ClaimState) -> None:
    require(Action.hold, state.status)
    if state.held is not None:
        raise DomainError("already_held", f"the claim is already on legal hold ({state.held.value})")


def check_release(state: ClaimState) -> None:
    if state.held is None:
        raise DomainError("not_held", "the claim is not on legal hold")
    require(Action.release_hold, state.status)


def check_not_held(state: ClaimState) -> None:
    """An approval would start a payout: refused while held."""
    if state.held is not None:
        raise DomainError("on_legal_hold", "on legal hold")
