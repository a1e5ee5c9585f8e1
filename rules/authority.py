"""The authority ladder: which tier confirms a decision, who may confirm it (maker-checker), and escalation."""

from rules.errors import DomainError
from rules.holds import check_not_held
from rules.states import require
from schema.claim_state import ClaimState
from schema.claims import Actor, ApprovalRequest, ClaimStart, DecisionRequest
from schema.enums import Action, ApprovalTier, ApprovalVerdict, DecisionOutcome, Role
from schema.policy import Policy

# Lowest first: a decision escalates up this ladder; above a director's limit, a director and finance.
LADDER = (ApprovalTier.lead, ApprovalTier.manager, ApprovalTier.director)
ROLE_RANK = {Role.lead: 1, Role.manager: 2, Role.director: 3}
TOP_TIER_ROLES = frozenset({Role.director, Role.finance})

# The claim's people who may not confirm its decision, each a field of the claim, with the reason.
CONFLICTED = {
    "decided_by": "you made this decision; another approver must confirm it",
    "opened_by": "you opened this claim; another approver must confirm it",
    "payout_details_by": "you set the payout details this decision pays; another approver must confirm it",
}


def tier_for(policy: Policy, amount_cents: int) -> ApprovalTier:
    """The lowest approval tier whose authority covers the amount."""
    for tier in LADDER:
        if amount_cents <= policy.authority_cents[Role(tier.value)]:
            return tier
    return ApprovalTier.director_and_finance


def required_tier(policy: Policy, decision: DecisionRequest) -> ApprovalTier:
    if decision.outcome == DecisionOutcome.approve:
        return tier_for(policy, decision.amount_cents)
    return policy.denial_needs_tier


def next_tier(tier: ApprovalTier) -> ApprovalTier | None:
    """Where an approval escalates when its SLA passes; None at a director and above."""
    if tier in LADDER[:-1]:
        return LADDER[LADDER.index(tier) + 1]
    return None


def tiers_for(role: Role) -> list[ApprovalTier]:
    """The approval tiers a role may confirm, for validators and approval queues alike."""
    tiers = list(LADDER[: ROLE_RANK.get(role, 0)])
    if role in TOP_TIER_ROLES:
        tiers.append(ApprovalTier.director_and_finance)
    return tiers


def check_not_conflicted(people: dict[str, str | None], actor: Actor) -> None:
    """Maker-checker: `people` names who holds each CONFLICTED field of the claim."""
    for field, reason in CONFLICTED.items():
        if people.get(field) == actor.user_id:
            raise DomainError("conflict_of_interest", reason)


def check_approval(start: ClaimStart, state: ClaimState, actor: Actor, req: ApprovalRequest) -> None:
    """The approver confirms the decision and the payout details it pays, as they stand now."""
    require(Action.review, state.status)
    if req.verdict == ApprovalVerdict.approve:
        check_not_held(state)
    people = {"decided_by": state.decided_by, "opened_by": start.opened_by.user_id}
    if state.destination_checks:
        people["payout_details_by"] = state.payout_set_by
    check_not_conflicted(people, actor)
    current = state.payout and state.payout.id
    if req.payout_details_id is not None and req.payout_details_id != current:
        raise DomainError(
            "stale_details",
            f"the payout details changed since you read the claim (now #{current}); read it again before approving",
        )
    if any(a.user_id == actor.user_id for a in state.approved_by):
        raise DomainError("already_approved", "you have already approved this decision")
    check_authority(start.policy, state, actor, req.verdict)


def needs_legal(state: ClaimState) -> bool:
    """The extra tier: a decision to pay a claim released from an injury or legal-threat hold needs legal too."""
    return state.needs_legal and state.decision is not None and state.decision.outcome == DecisionOutcome.approve


def check_authority(policy: Policy, state: ClaimState, actor: Actor, verdict: ApprovalVerdict) -> None:
    tier = state.tier
    if actor.role == Role.legal:
        if not needs_legal(state):
            raise DomainError(
                "insufficient_authority",
                "legal approves only payouts of claims released from an injury or legal-threat hold",
            )
        if verdict == ApprovalVerdict.approve and any(a.role == Role.legal for a in state.approved_by):
            raise DomainError("already_approved", f"legal has approved already; it now needs a {tier.value}")
        return
    if tier == ApprovalTier.director_and_finance:
        if actor.role not in TOP_TIER_ROLES:
            raise DomainError("insufficient_authority", "this decision needs a director and finance to approve it")
        if verdict == ApprovalVerdict.approve and any(a.role == actor.role for a in state.approved_by):
            other = "finance" if actor.role == Role.director else "a director"
            raise DomainError("already_approved", f"a {actor.role.value} has approved already; it now needs {other}")
        return
    if tier not in tiers_for(actor.role) or policy.authority_cents.get(actor.role, 0) < state.decided_amount:
        raise DomainError(
            "insufficient_authority",
            f"this decision needs a {tier.value} or above; a {actor.role.value} cannot confirm it",
        )


def approval_complete(tier: ApprovalTier, approved_by: list[Actor], legal: bool = False) -> bool:
    """One approval within authority suffices, except at the top tier: there a director and finance.
    With `legal` (`needs_legal`), a legal approval besides."""
    if legal and not any(a.role == Role.legal for a in approved_by):
        return False
    others = {a.role for a in approved_by} - {Role.legal}
    return bool(others) and (tier != ApprovalTier.director_and_finance or TOP_TIER_ROLES <= others)
