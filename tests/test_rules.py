"""Every claim rule on its own: plain functions over plain models, no Temporal and no database."""

from datetime import UTC, date, datetime, timedelta

import pytest

from rules import authority, decisions, mediation, payouts, roles, states
from rules.eligibility import PriorClaims, check_request, eligibility_issues
from rules.errors import DomainError
from rules.risk import repeat_customer_since, risk_flags
from schema import tables
from schema.claim_state import ClaimState
from schema.claims import (
    Actor,
    ApprovalRequest,
    ClaimOpen,
    ClaimStart,
    DecisionRequest,
    MediationOutcomeRequest,
    MediationRequest,
    PayoutDetailsRef,
)
from schema.enums import Action, ApprovalTier, ClaimStatus, ClaimType, Role
from schema.policy import load_policy

V1, V2 = load_policy("v1"), load_policy("v2")
TODAY = date(2026, 11, 28)
NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)


def person(role: Role, n: int = 1) -> Actor:
    return Actor(user_id=f"u_{role.value}{n}", name=f"{role.value} {n}", role=role)


SPECIALIST = person(Role.specialist)


def request(**overrides) -> ClaimOpen:
    fields = {
        "customer_id": "cus_1",
        "pro_id": "pro_1",
        "project_id": "prj_1",
        "type": "property_damage",
        "amount_cents": 100_000,
        "currency": "USD",
        "incident_date": TODAY,
        "channel": "phone",
        "description": "a cracked countertop",
    }
    return ClaimOpen(**(fields | overrides))


def start(policy=V1, issues=(), opener=SPECIALIST, **overrides) -> ClaimStart:
    return ClaimStart(
        claim_id="c1",
        request=request(**overrides),
        opened_by=opener,
        opened_at=NOW,
        policy=policy,
        eligibility_issues=list(issues),
    )


def refused(code: str, rule, *args) -> str:
    with pytest.raises(DomainError) as info:
        rule(*args)
    assert info.value.code == code, info.value
    return info.value.message


PAYOUT = PayoutDetailsRef(id=1, method="transfer")


def approve(amount: int) -> DecisionRequest:
    return DecisionRequest(outcome="approve", amount_cents=amount, rationale="matches the invoice")


# States and roles.


@pytest.mark.parametrize("status", list(ClaimStatus))
@pytest.mark.parametrize("action", list(states.ALLOWED))
def test_each_action_is_allowed_in_its_states_only(action, status):
    allowed, _ = states.ALLOWED[action]
    if status in allowed:
        states.require(action, status)
        assert action in states.allowed_actions(status)
    else:
        code = "money_moved" if action == Action.withdraw and status in states.MONEY_STATES else "invalid_state"
        assert status.value in refused(code, states.require, action, status)
        assert action not in states.allowed_actions(status)


def test_final_claims_allow_nothing():
    for status in ClaimStatus:
        if status.is_final:
            assert states.allowed_actions(status) == [], status


CASEWORK_ACTIONS = {
    "open",
    "add_evidence",
    "complete_evidence",
    "set_payout_details",
    "decide",
    "withdraw",
    "refer",
    "set_severity",
    "hold",
    "mediate",
    "settle_mediation",
}


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("action", list(Action))
def test_roles_per_action(action, role):
    expected = {
        Role.specialist: CASEWORK_ACTIONS,
        Role.finance: {"review", "settle_payout", "read_finance", "read_kpis"},
        Role.admin: {"read_finance", "read_history", "verify_audit", "manage_users", "read_kpis"},
        Role.party: {"add_evidence"},  # an evidence link: its party's evidence, and nothing else, not even reading
        Role.legal: {"review", "release_hold"},  # releases holds; approves claims released from some
    }.get(role, CASEWORK_ACTIONS | {"review", "assign", "read_history", "read_kpis"})
    staff = {"read_claims", "handle_referral"} if role != Role.party else set()
    if action.value in expected | staff:
        roles.permit(action, role)
    else:
        assert f"the {role.value} role cannot do this" in refused("forbidden", roles.permit, action, role)


# Eligibility and risk flags.


def test_what_the_programme_does_not_take_at_all():
    assert "USD" in refused("unsupported_currency", check_request, request(currency="EUR"), V1, TODAY)
    check_request(request(amount_cents=V1.max_claim_amount_cents), V1, TODAY)
    refused("amount_too_large", check_request, request(amount_cents=V1.max_claim_amount_cents + 1), V1, TODAY)
    refused("incident_in_future", check_request, request(incident_date=TODAY + timedelta(days=1)), V1, TODAY)


@pytest.mark.parametrize(
    ("claim_type", "days"), [("property_damage", 14), ("work_not_done", 45), ("not_as_agreed", 45)]
)
def test_the_filing_window_counts_whole_days(claim_type, days):
    on_time = request(type=claim_type, incident_date=TODAY - timedelta(days=days))
    late = request(type=claim_type, incident_date=TODAY - timedelta(days=days + 1))
    assert eligibility_issues(on_time, V1, TODAY, PriorClaims()) == []
    assert eligibility_issues(late, V1, TODAY, PriorClaims()) == ["outside_filing_window"]


def test_a_paid_project_and_an_open_duplicate_make_a_claim_ineligible():
    req = request()
    assert eligibility_issues(req, V1, TODAY, PriorClaims(paid_on_project=1)) == ["project_already_paid"]
    assert eligibility_issues(req, V1, TODAY, PriorClaims(open_on_project_of_type=1)) == ["duplicate_claim"]
    both = PriorClaims(paid_on_project=1, open_on_project_of_type=2)
    assert eligibility_issues(req, V1, TODAY, both) == ["project_already_paid", "duplicate_claim"]


def test_risk_flags_inform_from_the_policys_thresholds():
    assert risk_flags(request(), V1, PriorClaims()) == []
    assert risk_flags(request(), V1, PriorClaims(by_customer_recently=1)) == ["repeat_customer"]
    threshold = V1.risk.pro_claims_threshold
    assert risk_flags(request(), V1, PriorClaims(against_pro=threshold - 1)) == []
    assert risk_flags(request(), V1, PriorClaims(against_pro=threshold)) == ["repeat_pro"]
    cap = V1.cap(ClaimType.work_not_done)
    near = cap * V1.risk.near_cap_percent // 100
    assert risk_flags(request(type="work_not_done", amount_cents=near), V1, PriorClaims()) == ["near_cap"]
    assert risk_flags(request(type="work_not_done", amount_cents=near - 1), V1, PriorClaims()) == []
    assert repeat_customer_since(V1, NOW) == NOW - timedelta(days=V1.risk.repeat_customer_days)


# Decisions.


def in_review(**fields) -> ClaimState:
    return ClaimState(**({"status": ClaimStatus.specialist_review, "payout": PAYOUT} | fields))


def test_a_decision_within_the_claim_and_the_cap_passes():
    decisions.check_decision(start(amount_cents=50_000), in_review(), approve(50_000))
    deny = DecisionRequest(outcome="deny", reason_code="excluded_peril", rationale="flood")
    decisions.check_decision(start(issues=["outside_filing_window"]), in_review(payout=None), deny)


def test_what_a_decision_may_not_be():
    claim = start(amount_cents=50_000)
    refused("invalid_state", decisions.check_decision, claim, ClaimState(payout=PAYOUT), approve(1))
    refused(
        "reason_required", decisions.check_decision, claim, in_review(), DecisionRequest(outcome="deny", rationale="x")
    )
    with_amount = DecisionRequest(outcome="deny", reason_code="over_cap", amount_cents=5, rationale="x")
    refused("invalid_amount", decisions.check_decision, claim, in_review(), with_amount)
    with_reason = DecisionRequest(outcome="approve", amount_cents=5, reason_code="over_cap", rationale="x")
    refused("invalid_reason", decisions.check_decision, claim, in_review(), with_reason)
    no_amount = DecisionRequest(outcome="approve", rationale="x")
    refused("amount_required", decisions.check_decision, claim, in_review(), no_amount)
    refused("payout_details_required", decisions.check_decision, claim, in_review(payout=None), approve(1))
    refused("over_claimed", decisions.check_decision, claim, in_review(), approve(50_001))
    ineligible = start(issues=["project_already_paid"])
    assert "project_already_paid" in refused(
        "ineligible", decisions.check_decision, ineligible, in_review(), approve(1)
    )
    big = start(amount_cents=20_000_000)
    assert "100,000.00 USD" in refused("over_cap", decisions.check_decision, big, in_review(), approve(10_000_001))


def test_claims_from_before_payout_details_are_approved_without_them():
    decisions.check_decision(start(), in_review(payout=None, needs_payout_details=False), approve(1_000))


# Authority: tiers, escalation, maker-checker.


def test_the_tier_follows_the_amount_or_the_denial_rule():
    assert authority.required_tier(V1, approve(250_000)) == ApprovalTier.lead
    assert authority.required_tier(V1, approve(250_001)) == ApprovalTier.manager
    assert authority.required_tier(V1, approve(10_000_000)) == ApprovalTier.director
    assert authority.required_tier(V2, approve(5_000_001)) == ApprovalTier.director_and_finance
    deny = DecisionRequest(outcome="deny", reason_code="excluded_peril", rationale="x")
    assert authority.required_tier(V1, deny) == V1.denial_needs_tier


def test_escalation_climbs_the_ladder_and_stops_at_a_director():
    assert authority.next_tier(ApprovalTier.lead) == ApprovalTier.manager
    assert authority.next_tier(ApprovalTier.manager) == ApprovalTier.director
    assert authority.next_tier(ApprovalTier.director) is None
    assert authority.next_tier(ApprovalTier.director_and_finance) is None


def test_the_tiers_each_role_may_confirm():
    assert authority.tiers_for(Role.specialist) == authority.tiers_for(Role.admin) == []
    assert authority.tiers_for(Role.lead) == [ApprovalTier.lead]
    assert authority.tiers_for(Role.manager) == [ApprovalTier.lead, ApprovalTier.manager]
    assert authority.tiers_for(Role.director) == list(ApprovalTier)
    assert authority.tiers_for(Role.finance) == [ApprovalTier.director_and_finance]


def pending(tier: ApprovalTier, amount: int, decided_by: str = "u_specialist2", approved_by=()) -> ClaimState:
    return ClaimState(
        status=ClaimStatus.pending_approval,
        decision=approve(amount),
        decided_by=decided_by,
        tier=tier,
        approved_by=list(approved_by),
        payout=PAYOUT,
    )


OK = ApprovalRequest(verdict="approve")


def test_an_approver_within_authority_confirms():
    authority.check_approval(start(), pending(ApprovalTier.lead, 1_000), person(Role.lead), OK)
    authority.check_approval(start(), pending(ApprovalTier.lead, 1_000), person(Role.director), OK)


def test_nobody_confirms_a_decision_they_made_or_a_claim_they_opened():
    lead = person(Role.lead)
    state = pending(ApprovalTier.lead, 1_000, decided_by=lead.user_id)
    assert "you made this decision" in refused(
        "conflict_of_interest", authority.check_approval, start(), state, lead, OK
    )
    opened_by_lead = start(opener=lead)
    state = pending(ApprovalTier.lead, 1_000)
    message = refused("conflict_of_interest", authority.check_approval, opened_by_lead, state, lead, OK)
    assert "you opened this claim" in message


def test_one_approval_per_person_and_each_within_authority():
    lead, manager = person(Role.lead), person(Role.manager)
    state = pending(ApprovalTier.manager, 300_000)
    assert "manager" in refused("insufficient_authority", authority.check_approval, start(), state, lead, OK)
    refused("insufficient_authority", authority.check_approval, start(), state, person(Role.specialist, 3), OK)
    state = pending(ApprovalTier.director_and_finance, 6_000_000, approved_by=[manager])
    refused("already_approved", authority.check_approval, start(), state, manager, OK)


def test_the_top_tier_needs_a_director_and_finance():
    director, finance, manager = person(Role.director), person(Role.finance), person(Role.manager)
    tier = ApprovalTier.director_and_finance
    refused("insufficient_authority", authority.check_approval, start(V2), pending(tier, 6_000_000), manager, OK)
    after_director = pending(tier, 6_000_000, approved_by=[director])
    assert "finance" in refused(
        "already_approved", authority.check_approval, start(V2), after_director, person(Role.director, 2), OK
    )
    authority.check_approval(start(V2), after_director, finance, OK)
    assert not authority.approval_complete(tier, [director])
    assert authority.approval_complete(tier, [director, finance])
    assert authority.approval_complete(ApprovalTier.lead, [person(Role.lead)])


def test_whoever_set_the_payout_details_may_not_approve_them():
    lead = person(Role.lead)
    state = pending(ApprovalTier.lead, 1_000).model_copy(update={"payout_set_by": lead.user_id})
    assert "payout details" in refused("conflict_of_interest", authority.check_approval, start(), state, lead, OK)
    before_the_rule = state.model_copy(update={"destination_checks": False})
    authority.check_approval(start(), before_the_rule, lead, OK)


def test_an_approval_names_the_details_it_saw():
    state = pending(ApprovalTier.lead, 1_000)
    seen = ApprovalRequest(verdict="approve", payout_details_id=PAYOUT.id)
    authority.check_approval(start(), state, person(Role.lead), seen)
    older = ApprovalRequest(verdict="approve", payout_details_id=PAYOUT.id + 1)
    refused("stale_details", authority.check_approval, start(), state, person(Role.lead), older)


def test_every_conflict_is_a_claim_column_the_approval_queue_filters_on():
    assert set(authority.CONFLICTED) == {"decided_by", "opened_by", "payout_details_by"}
    assert set(authority.CONFLICTED) <= set(tables.Claim.__table__.columns.keys())


def test_only_the_assignee_or_a_lead_works_a_claim():
    mine = person(Role.specialist)
    roles.check_casework(mine.user_id, mine)
    for role in (Role.lead, Role.manager, Role.director):
        roles.check_casework(mine.user_id, person(role))
    refused("not_assignee", roles.check_casework, mine.user_id, person(Role.specialist, 9))
    roles.check_assignee(Role.specialist)
    refused("invalid_assignee", roles.check_assignee, Role.finance)


# Payout methods and settlement.


def test_refunds_are_only_for_money_back_claims():
    payouts.check_payout_method(ClaimType.work_not_done, "refund")
    payouts.check_payout_method(ClaimType.property_damage, "transfer")
    refused("invalid_payout_method", payouts.check_payout_method, ClaimType.property_damage, "refund")
    refund = PayoutDetailsRef(id=2, method="refund")
    refused("invalid_payout_method", payouts.check_payout_details, start(), ClaimState(), refund)
    payouts.check_payout_details(start(type="not_as_agreed"), ClaimState(), refund)
    refused("invalid_state", payouts.check_payout_details, start(), ClaimState(status=ClaimStatus.approved), PAYOUT)


def test_only_finance_settles_a_refused_payout():
    failed = ClaimState(status=ClaimStatus.payout_failed)
    payouts.check_settlement(start(), failed, person(Role.finance), None)
    refused("insufficient_authority", payouts.check_settlement, start(), failed, person(Role.director), None)
    refused(
        "invalid_state",
        payouts.check_settlement,
        start(),
        ClaimState(status=ClaimStatus.paid),
        person(Role.finance),
        None,
    )
    refund = PayoutDetailsRef(id=3, method="refund")
    refused("invalid_payout_method", payouts.check_settlement, start(), failed, person(Role.finance), refund)


# Mediated outcomes.


def test_an_agreement_needs_the_policy_evidence_and_a_follow_up_day_in_reach():
    v5 = load_policy("v5")
    review = ClaimState(status=ClaimStatus.specialist_review, evidence_count=1)

    def agreement(day: date) -> MediationRequest:
        return MediationRequest(kind="pro_refunds", terms="refund of 300.00", evidence_ids=[3, 1, 3], follow_up_by=day)

    latest = TODAY + timedelta(days=v5.mediation_max_days)
    assert agreement(TODAY).evidence_ids == [1, 3]
    assert mediation.check_agreement(v5, review, agreement(TODAY), NOW) == datetime(2026, 11, 29, tzinfo=UTC)
    assert mediation.check_agreement(v5, review, agreement(latest), NOW) == mediation.follow_up_due(latest)
    for day in (TODAY - timedelta(days=1), latest + timedelta(days=1)):
        assert str(latest) in refused("invalid_follow_up", mediation.check_agreement, v5, review, agreement(day), NOW)
    refused("invalid_state", mediation.check_agreement, V1, review, agreement(TODAY), NOW)
    no_evidence = review.model_copy(update={"evidence_count": 0})
    refused("no_evidence", mediation.check_agreement, v5, no_evidence, agreement(TODAY), NOW)
    pending = review.model_copy(update={"status": ClaimStatus.pending_approval})
    refused("invalid_state", mediation.check_agreement, v5, pending, agreement(TODAY), NOW)
    mediation.check_settlement(review.model_copy(update={"status": ClaimStatus.mediation}))
    refused("invalid_state", mediation.check_settlement, review)


def test_an_agreement_names_its_evidence_and_what_the_customer_said():
    with pytest.raises(ValueError):
        MediationRequest(kind="pro_refunds", terms="x", evidence_ids=[], follow_up_by=TODAY)
    with pytest.raises(ValueError):
        MediationRequest(kind="pro_refunds", terms="x", evidence_ids=[0], follow_up_by=TODAY)
    with pytest.raises(ValueError, match="expires by itself"):
        MediationOutcomeRequest(outcome="expired", note="x")
    assert ClaimStatus.resolved_by_mediation.is_final and not ClaimStatus.mediation.is_final
