"""Mediated outcomes on the time-skipping server: kept, expired without a complaint, broken back to review."""

from datetime import timedelta

import pytest

from rules.errors import DomainError
from schema import tables
from schema.claims import (
    Contacts,
    EvidenceAdd,
    HoldRelease,
    HoldReleaseRequest,
    MediationAgreement,
    MediationOutcomeRequest,
    MediationRequest,
    MediationSettlement,
)
from schema.enums import ClaimStatus, Role
from schema.names import claim_workflow_id
from schema.policy import load_policy
from service import claims
from tests.test_api import Desk, assert_error
from tests.test_claim_workflow import (
    APPROVE,
    PHOTO,
    approve,
    eventually,
    keep_history,
    new_claim,
    open_,
    rejected,
    to_review,
)
from tests.test_holds import placed
from workflows.claim import ClaimWorkflow

V5 = load_policy("v5")
DAY = timedelta(days=1)
MESSAGE = EvidenceAdd(kind="message", source="customer", note="the pro will redo the grout on Monday")


async def today(stack):
    return (await stack.env.get_current_time()).date()


async def agreed(stack, actor, days: int = 7, evidence_ids=(1,)) -> MediationAgreement:
    request = MediationRequest(
        kind="pro_returns",
        terms="the pro redoes the grout at no cost",
        evidence_ids=list(evidence_ids),
        follow_up_by=await today(stack) + timedelta(days=days),
    )
    return MediationAgreement(actor=actor, request=request)


def said(actor, outcome: str, note: str = "the customer called") -> MediationSettlement:
    return MediationSettlement(actor=actor, request=MediationOutcomeRequest(outcome=outcome, note=note))


async def in_review(stack, specialist):
    handle, claim_id = await open_(stack, specialist, policy=V5)
    await to_review(stack, handle, specialist)
    return handle, claim_id


async def test_an_agreement_kept_ends_the_claim_without_a_payout(stack):
    specialist = stack.user(Role.specialist)
    handle, claim_id = await in_review(stack, specialist)
    assert await stack.act(handle, ClaimWorkflow.mediate, await agreed(stack, specialist)) == ClaimStatus.mediation
    claim = stack.claim(claim_id)
    assert (claim.status, claim.assignee) == (ClaimStatus.mediation, specialist.user_id), "it stays in their queue"
    await stack.act(handle, ClaimWorkflow.settle_mediation, said(specialist, "kept", "the grout was redone"))
    assert await stack.result(claim_id) == ClaimStatus.resolved_by_mediation
    await keep_history(handle, "mediation_kept")
    [row] = stack.rows(tables.Mediation, claim_id)
    assert (row.kind, row.terms, row.outcome, row.outcome_note) == (
        "pro_returns",
        "the pro redoes the grout at no cost",
        "kept",
        "the grout was redone",
    )
    assert row.outcome_by == specialist.user_id
    assert stack.rows(tables.Payout, claim_id) == [] and stack.stub.transfers(claim_id) == []
    assert stack.actions(claim_id)[-2:] == ["mediation_agreed", "mediation_kept"]
    kinds = [n.kind for n in stack.rows(tables.Notification, claim_id)]
    assert kinds[-2:] == ["mediation_agreed", "claim_resolved"]


async def test_an_agreement_with_no_complaint_by_its_day_ends_the_claim(stack):
    """Recorded while the evidence is still collected; held for two days, which the follow-up waits longer by."""
    specialist, legal = stack.user(Role.specialist), stack.user(Role.legal)
    contacts = Contacts(customer_email="ana@example.com")
    claim = await claims.open_claim(
        stack.context(V5, stack.ctx.evidence.staging), specialist, new_claim(), contacts=contacts
    )
    handle = stack.client.get_workflow_handle(claim_workflow_id(claim.id))
    await stack.act(handle, ClaimWorkflow.add_evidence, specialist, MESSAGE)
    agreement = await agreed(stack, specialist, days=3)
    await stack.act(handle, ClaimWorkflow.mediate, agreement)
    due = stack.rows(tables.Mediation, claim.id)[0].due_at
    assert due.date() == agreement.request.follow_up_by + DAY, "the whole follow-up day counts"
    await stack.act(handle, ClaimWorkflow.hold, placed(specialist, "attorney_letter"))
    await stack.env.sleep(timedelta(days=2))
    await stack.act(handle, ClaimWorkflow.release_hold, HoldRelease(actor=legal, request=HoldReleaseRequest(note="ok")))
    await stack.env.sleep(due - await stack.env.get_current_time() + timedelta(days=1, hours=-1))
    assert stack.claim(claim.id).status == ClaimStatus.mediation, "the two days on hold do not count"
    assert await stack.result(claim.id) == ClaimStatus.resolved_by_mediation
    await keep_history(handle, "mediation_expired")
    [row] = stack.rows(tables.Mediation, claim.id)
    assert (row.outcome, row.outcome_by) == ("expired", None) and row.outcome_note.startswith("no complaint by")
    mails = stack.rows(tables.OutboundMail, claim.id)
    assert [(m.kind, m.to) for m in mails] == [
        ("mediation_agreed", "ana@example.com"),
        ("claim_resolved", "ana@example.com"),
    ]


async def test_an_agreement_broken_goes_back_to_review_and_the_claim_can_still_pay(stack):
    specialist, lead = stack.user(Role.specialist), stack.user(Role.lead)
    handle, claim_id = await in_review(stack, specialist)
    await stack.act(handle, ClaimWorkflow.mediate, await agreed(stack, specialist))
    await stack.env.sleep(timedelta(days=3))
    await stack.act(handle, ClaimWorkflow.settle_mediation, said(specialist, "broken", "the pro never came"))
    claim = stack.claim(claim_id)
    assert claim.status == ClaimStatus.specialist_review
    # The decision SLA starts again from the break: not breached by the three days of mediation.
    await stack.env.sleep(V5.decision_sla(claim.severity) - timedelta(hours=1))
    assert stack.claim(claim_id).sla_breaches == []
    await stack.act(handle, ClaimWorkflow.decide, specialist, approve(10_000))
    await stack.act(handle, ClaimWorkflow.review, lead, APPROVE)
    assert await stack.result(claim_id) == ClaimStatus.paid
    await keep_history(handle, "mediation_broken")
    [row] = stack.rows(tables.Mediation, claim_id)
    assert (row.outcome, row.outcome_note) == ("broken", "the pro never came"), "the agreement stays on the claim"


async def test_evidence_during_the_follow_up_keeps_the_claim_open_for_the_specialist(stack):
    """A reply that came in during the follow-up may be a complaint nobody has read: the claim does not end."""
    specialist = stack.user(Role.specialist)
    handle, claim_id = await in_review(stack, specialist)
    await stack.act(handle, ClaimWorkflow.mediate, await agreed(stack, specialist, days=2))
    await stack.act(handle, ClaimWorkflow.add_evidence, specialist, MESSAGE)
    await stack.env.sleep(timedelta(days=4))
    await eventually(lambda: "mediation_follow_up_due" in stack.actions(claim_id), "the follow-up")
    assert stack.claim(claim_id).status == ClaimStatus.mediation
    [note] = [n for n in stack.rows(tables.Notification, claim_id) if n.kind == "mediation_follow_up"]
    assert note.recipient == specialist.user_id
    await stack.act(handle, ClaimWorkflow.settle_mediation, said(specialist, "kept"))
    assert await stack.result(claim_id) == ClaimStatus.resolved_by_mediation
    await keep_history(handle, "mediation_follow_up")


async def test_agreements_are_refused_where_the_rules_say(stack):
    specialist, other, finance = stack.user(Role.specialist), stack.user(Role.specialist), stack.user(Role.finance)
    # No evidence yet: nothing shows the agreement.
    handle, claim_id = await open_(stack, specialist, policy=V5)
    await rejected(stack.act(handle, ClaimWorkflow.mediate, await agreed(stack, specialist)), "no_evidence")
    await stack.act(handle, ClaimWorkflow.add_evidence, specialist, PHOTO)
    for days in (-1, V5.mediation_max_days + 1):
        await rejected(
            stack.act(handle, ClaimWorkflow.mediate, await agreed(stack, specialist, days)), "invalid_follow_up"
        )
    await rejected(stack.act(handle, ClaimWorkflow.mediate, await agreed(stack, other)), "not_assignee")
    await rejected(stack.act(handle, ClaimWorkflow.mediate, await agreed(stack, finance)), "forbidden")
    await rejected(stack.act(handle, ClaimWorkflow.settle_mediation, said(specialist, "kept")), "invalid_state")
    await stack.act(handle, ClaimWorkflow.mediate, await agreed(stack, specialist, V5.mediation_max_days))
    await rejected(stack.act(handle, ClaimWorkflow.mediate, await agreed(stack, specialist)), "invalid_state")
    await rejected(stack.act(handle, ClaimWorkflow.settle_mediation, said(other, "kept")), "not_assignee")
    assert stack.claim(claim_id).status == ClaimStatus.mediation
    # A claim under a policy without mediation.
    handle, _ = await open_(stack, specialist)
    await stack.act(handle, ClaimWorkflow.add_evidence, specialist, PHOTO)
    await rejected(stack.act(handle, ClaimWorkflow.mediate, await agreed(stack, specialist)), "invalid_state")


async def test_the_service_refuses_evidence_of_another_claim(stack):
    specialist = stack.user(Role.specialist)
    ctx = stack.context(V5, stack.ctx.evidence.staging)
    mine = await claims.open_claim(ctx, specialist, new_claim())
    mine = await claims.add_evidence(ctx, mine.id, specialist, MESSAGE)
    theirs = await claims.open_claim(ctx, specialist, new_claim())
    theirs = await claims.add_evidence(ctx, theirs.id, specialist, MESSAGE)
    agreement = await agreed(stack, specialist, evidence_ids=[mine.evidence[0].id, theirs.evidence[0].id])
    with pytest.raises(DomainError) as info:
        await claims.mediate(ctx, mine.id, specialist, agreement.request)
    assert info.value.code == "unknown_evidence"
    assert (await claims.get(ctx, mine.id)).status == ClaimStatus.evidence_collection
    agreement = await agreed(stack, specialist, evidence_ids=[mine.evidence[0].id])
    claim = await claims.mediate(ctx, mine.id, specialist, agreement.request)
    [view] = claim.mediations
    assert (view.evidence_ids, view.outcome, claim.status) == ([mine.evidence[0].id], None, ClaimStatus.mediation)


async def test_the_api_records_and_settles_agreements(api, stack):
    desk = Desk(api, stack)
    ctx = stack.context(V5, stack.ctx.evidence.staging)
    claim = await claims.open_claim(ctx, desk.specialist, new_claim())
    claim = await claims.add_evidence(ctx, claim.id, desk.specialist, MESSAGE)
    url = f"/claims/{claim.id}/mediation"
    agreement = (await agreed(stack, desk.specialist, evidence_ids=[claim.evidence[0].id])).request
    good = agreement.model_dump(mode="json")
    for bad in (
        {**good, "kind": "pro_pays_later"},
        {**good, "evidence_ids": []},
        {**good, "terms": ""},
        {**good, "follow_up_by": "someday"},
        {**good, "amount_cents": 100},
    ):
        assert_error(await api.post(url, json=bad, headers=desk.specialist_h), 422)
    assert_error(await api.post(url, json={**good, "evidence_ids": [10**9]}, headers=desk.specialist_h), 422)
    for role in (Role.finance, Role.admin, Role.legal):
        assert_error(await api.post(url, json=good, headers=desk.person(role)[1]), 403)
    assert (await desk.get(claim.id))["status"] == "evidence_collection"
    r = await api.post(url, json=good, headers=desk.specialist_h)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "mediation" and r.json()["mediations"][0]["terms"] == agreement.terms
    outcome = f"{url}/outcome"
    r = await api.post(outcome, json={"outcome": "expired", "note": "x"}, headers=desk.specialist_h)
    assert_error(r, 422)
    before = await desk.get(claim.id)
    assert_error(
        await api.post(outcome, json={"outcome": "kept", "note": "x"}, headers=desk.person(Role.specialist)[1]), 403
    )
    assert await desk.get(claim.id) == before
    r = await api.post(outcome, json={"outcome": "kept", "note": "confirmed"}, headers=desk.specialist_h)
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["mediations"][0]["outcome"]) == ("resolved_by_mediation", "kept")
