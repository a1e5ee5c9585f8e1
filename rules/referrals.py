"""Who takes and answers a referral: anyone on staff but the person who asked, and only its owner answers."""

from rules.errors import DomainError
from schema.claims import Actor
from schema.enums import ReferralStatus


def check_take(status: ReferralStatus, referred_by: str, actor: Actor) -> None:
    if status != ReferralStatus.open:
        raise DomainError("invalid_state", f"the referral is {status.value}; only an open one can be taken")
    if actor.user_id == referred_by:
        raise DomainError("conflict_of_interest", "you asked this question; someone on the team answers it")


def check_answer(status: ReferralStatus, owner: str | None, actor: Actor) -> None:
    if status != ReferralStatus.taken:
        raise DomainError("invalid_state", f"the referral is {status.value}; take it before answering")
    if actor.user_id != owner:
        raise DomainError("not_assignee", "only the person who took this referral answers it")
