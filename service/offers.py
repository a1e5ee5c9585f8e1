"""Which actions a person may take on a claim right now, asked of the same rules the workflow enforces.

A page offers only these. The workflow still decides: a claim that moves between the page and
the click refuses with the rule's reason. For an approver who may not approve, the reason is
given, so the page can say why instead of offering nothing.
"""

from dataclasses import dataclass, field

from rules import authority, roles, states
from rules.errors import DomainError
from schema.claim_state import ClaimState
from schema.claims import Actor, ApprovalRequest, ClaimDetail, ClaimOpen, ClaimStart, DecisionRequest, PayoutDetailsRef
from schema.enums import Action, ApprovalTier, ApprovalVerdict, ClaimStatus, Role
from schema.policy import Policy, load_policy

CASEWORK_ACTIONS = (
    Action.add_evidence,
    Action.complete_evidence,
    Action.set_payout_details,
    Action.decide,
    Action.withdraw,
    Action.set_severity,
    Action.hold,
    Action.mediate,
    Action.settle_mediation,
)


@dataclass(frozen=True)
class Offers:
    actions: frozenset[Action]
    why_not: dict[str, str] = field(default_factory=dict)  # "review" or "casework": why this person may not

    def __contains__(self, action: Action) -> bool:
        return action in self.actions


def caseworker(claim: ClaimDetail) -> str:
    """Who works the claim: its assignee while the casework is theirs, else who decided, else who opened it."""
    if claim.assignee and not claim.assignee.startswith("tier:"):
        return claim.assignee
    return next((d.decided_by for d in reversed(claim.decisions)), claim.opened_by)


def for_person(claim: ClaimDetail, actor: Actor, current_policy: Policy) -> Offers:
    allowed, why_not = set(), {}
    for action in states.allowed_actions(claim.status):
        try:
            roles.permit(action, actor.role)
            if action in CASEWORK_ACTIONS:
                roles.check_casework(caseworker(claim), actor)
            if action == Action.review:
                _check_review(claim, actor, current_policy)
        except DomainError as err:
            if err.code != "forbidden":  # a role that never does this is not told why, every time
                why_not["review" if action == Action.review else "casework"] = err.message
            continue
        allowed.add(action)
    if claim.severity is None:  # a claim under a policy without severity rules
        allowed.discard(Action.set_severity)
    allowed.discard(Action.release_hold if not claim.held else Action.hold)
    if not _has_mediation(claim):
        allowed.discard(Action.mediate)
    try:  # a question to another team, in any state
        roles.permit(Action.refer, actor.role)
        roles.check_casework(caseworker(claim), actor)
        allowed.add(Action.refer)
    except DomainError:
        pass
    return Offers(frozenset(allowed), why_not)


def may_ask_pro(claim: ClaimDetail, offer: Offers) -> bool:
    """Whether to offer asking the pro for their statement: as the workflow's rule, over the database's claim.

    Who may add evidence, while the claim collects it, under a policy with the step, when the pro is
    not being waited for already. The pro's address is the service's check (the page says it is missing).
    """
    if Action.add_evidence not in offer or claim.status != ClaimStatus.evidence_collection:
        return False
    try:
        if load_policy(claim.policy_version).pro_statement_days is None:
            return False
    except LookupError:
        return False
    ends = ("pro_statement_requested", "pro_statement_received", "pro_statement_overdue")
    last = next((t.action for t in reversed(claim.timeline) if t.action in ends), None)
    return last != "pro_statement_requested"


def _has_mediation(claim: ClaimDetail) -> bool:
    """The claim's policy follows agreements up, and the claim has the evidence an agreement needs."""
    try:
        return load_policy(claim.policy_version).mediation_max_days is not None and bool(claim.evidence)
    except LookupError:
        return False


def _check_review(claim: ClaimDetail, actor: Actor, current_policy: Policy) -> None:
    """The approval rule over the claim as the database shows it."""
    try:
        policy = load_policy(claim.policy_version)
    except LookupError:
        policy = current_policy
    decision = claim.decisions[-1] if claim.decisions else None
    this_round = [a for a in claim.approvals if decision and a.round == decision.round]
    state = ClaimState(
        status=ClaimStatus(claim.status),
        round=decision.round if decision else 0,
        decision=decision
        and DecisionRequest(
            outcome=decision.outcome,
            amount_cents=decision.amount_cents,
            reason_code=decision.reason_code,
            rationale=decision.rationale or "-",
        ),
        decided_by=decision and decision.decided_by,
        tier=claim.required_tier and ApprovalTier(claim.required_tier),
        approved_by=[
            Actor(user_id=a.approver_id, name=a.approver_id, role=Role(a.approver_role))
            for a in this_round
            if a.verdict == ApprovalVerdict.approve
        ],
        payout=_in_use(claim),
        payout_set_by=claim.payout_details_by,
    )
    request = ClaimOpen.model_construct(
        **{name: getattr(claim, name) for name in ClaimOpen.model_fields if hasattr(claim, name)}
    )
    start = ClaimStart.model_construct(
        claim_id=claim.id,
        request=request,
        opened_by=Actor(user_id=claim.opened_by, name=claim.opened_by, role=Role.specialist),
        opened_at=claim.opened_at,
        policy=policy,
    )
    authority.check_approval(start, state, actor, ApprovalRequest(verdict=ApprovalVerdict.approve))


def _in_use(claim: ClaimDetail) -> PayoutDetailsRef | None:
    details = [d for d in claim.payout_details if d.id == claim.payout_details_id] or claim.payout_details[-1:]
    return PayoutDetailsRef(id=details[0].id, method=details[0].method) if details else None
