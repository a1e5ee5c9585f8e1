"""Mediated outcomes: the customer and the pro settle between themselves, and the claim pays nothing.

The specialist records the agreement with the evidence of it and a follow-up day. The claim then
waits: the customer confirming, or the day ending without a complaint, ends it `resolved_by_mediation`;
the customer saying the pro did not follow through sends it back to review, the agreement on it.
"""

from datetime import UTC, date, datetime, time, timedelta

from rules.errors import DomainError
from rules.states import require
from schema.claim_state import ClaimState
from schema.claims import MediationRequest
from schema.enums import Action
from schema.policy import Policy


def follow_up_due(day: date) -> datetime:
    """An agreement is followed up until the end of its day (UTC): a complaint that day still counts."""
    return datetime.combine(day + timedelta(days=1), time(0), UTC)


def check_agreement(policy: Policy, state: ClaimState, request: MediationRequest, now: datetime) -> datetime:
    """Refuse an agreement the claim cannot wait on; answers when its follow-up ends."""
    require(Action.mediate, state.status)
    if policy.mediation_max_days is None:
        raise DomainError("invalid_state", f"claims under policy {policy.version} have no mediation")
    if state.evidence_count == 0:
        raise DomainError("no_evidence", "add the evidence of the agreement to the claim first")
    today, latest = now.date(), (now + timedelta(days=policy.mediation_max_days)).date()
    if not today <= request.follow_up_by <= latest:
        raise DomainError(
            "invalid_follow_up",
            f"the follow-up day must be from {today} to {latest} ({policy.mediation_max_days} days at most)",
        )
    return follow_up_due(request.follow_up_by)


def check_settlement(state: ClaimState) -> None:
    require(Action.settle_mediation, state.status)
