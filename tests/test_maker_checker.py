"""Maker-checker over where the money goes, tried as an insider would: through the API and straight to Temporal.

The approver approves a decision and the payout details it pays; new details after a decision
void it; whoever set the details in use may not approve them.
"""

import pytest
from temporalio.client import WorkflowUpdateFailedError

from schema.claims import PayoutDetails, PayoutDetailsRef
from schema.enums import Role
from schema.names import claim_workflow_id
from service import payout_details
from tests.test_api import Desk, assert_error
from tests.test_api_payouts import account, put_details, transfer
from workflows.claim import ClaimWorkflow


@pytest.fixture
def desk(api, stack) -> Desk:
    return Desk(api, stack)


async def test_an_approver_who_redirects_the_money_cannot_then_approve(desk, stack):
    """Finding: a lead PUT their own account on a pending claim, approved, and was paid."""
    lead, lead_h = desk.person(Role.lead)
    claim = await desk.pending(150_000)
    own = account()
    r = await put_details(desk, claim["id"], lead_h, json=transfer(own))
    assert r.status_code == 200, r.text
    voided = r.json()
    assert (voided["status"], voided["required_tier"], voided["approved_amount_cents"]) == (
        "specialist_review",
        None,
        None,
    ), "new details void the decision"
    assert (voided["payout_details_by"], voided["assignee"]) == (lead.user_id, desk.specialist.user_id)
    assert voided["timeline"][-1]["reason"].endswith("the decision and its approvals are void")
    assert_error(
        await desk.client.post(f"/claims/{claim['id']}/approval", json={"verdict": "approve"}, headers=lead_h), 409
    )

    await desk.decide(claim["id"], outcome="approve", amount_cents=150_000, rationale="decided again")
    message = await desk.refused(
        claim["id"], "/approval", 403, "conflict_of_interest", headers=lead_h, json={"verdict": "approve"}
    )
    assert "you set the payout details" in message
    assert claim["id"] not in await desk.ids(lead_h, awaiting="me", limit=500), "nor does it wait on them"
    assert stack.stub.transfers(claim["id"]) == []


async def test_the_decider_who_changes_the_account_sends_the_claim_back_and_the_approver_sees_it(desk, stack):
    """Finding: the specialist changed the account after deciding; the manager approved 20,000.00 unseen."""
    manager_h = desk.person(Role.manager)[1]
    claim = await desk.pending(2_000_000)
    seen = claim["payout_details_id"]
    swapped = account()
    r = await put_details(desk, claim["id"], json=transfer(swapped))
    assert r.json()["status"] == "specialist_review"
    message = await desk.refused(
        claim["id"], "/approval", 409, "invalid_state", headers=manager_h, json={"verdict": "approve"}
    )
    assert "pending_approval" in message
    current = await desk.decide(claim["id"], outcome="approve", amount_cents=2_000_000, rationale="new account")
    assert current["payout_details_id"] != seen
    message = await desk.refused(
        claim["id"],
        "/approval",
        409,
        "stale_details",
        headers=manager_h,
        json={"verdict": "approve", "payout_details_id": seen},
    )
    assert "changed since you read the claim" in message
    seen_now = {"verdict": "approve", "payout_details_id": current["payout_details_id"]}
    r = await desk.client.post(f"/claims/{claim['id']}/approval", json=seen_now, headers=manager_h)
    assert r.status_code == 200, r.text
    approved = r.json()
    assert approved["approvals"][-1]["payout_details_id"] == current["payout_details_id"]
    await stack.result(claim["id"])
    [transfer_] = stack.stub.transfers(claim["id"])
    assert transfer_.destination == swapped


async def test_whoever_set_the_details_before_the_decision_may_not_approve(desk):
    lead, lead_h = desk.person(Role.lead)
    claim = await desk.in_review()
    r = await put_details(desk, claim["id"], lead_h, json=transfer(account()))
    assert r.json()["status"] == "specialist_review" and r.json()["payout_details_by"] == lead.user_id
    await desk.decide(claim["id"], outcome="approve", amount_cents=10_000, rationale="ok")
    await desk.refused(
        claim["id"], "/approval", 403, "conflict_of_interest", headers=lead_h, json={"verdict": "approve"}
    )
    await desk.approve(claim["id"], desk.person(Role.lead)[1])


async def test_a_direct_update_cannot_swap_the_destination_either(desk, stack):
    """Straight to Temporal with a stored details row of one's own: unsigned, it never reaches the claim."""
    lead = desk.person(Role.lead)[0]
    claim = await desk.pending(10_000)
    mine = payout_details.store(
        stack.sessions, claim["id"], PayoutDetails(method="transfer", account_id=account()), lead
    )
    handle = stack.client.get_workflow_handle(claim_workflow_id(claim["id"]))
    for update, args in [
        (ClaimWorkflow.add_payout_details, [lead, mine]),
        (ClaimWorkflow.review, [lead, {"verdict": "approve"}]),
    ]:
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(update, args=args)
        assert refused.value.cause.type == "unsigned_action"
    after = await desk.get(claim["id"])
    assert (after["status"], after["payout_details_id"], after["approvals"]) == (
        "pending_approval",
        claim["payout_details_id"],
        [],
    )


async def test_signed_details_from_someone_else_still_void_the_decision(desk, stack):
    """Even a correctly signed change (through the service) voids the decision: the rule is in the workflow."""
    lead = desk.person(Role.lead)[0]
    claim = await desk.pending(10_000)
    ref = payout_details.store(
        stack.sessions, claim["id"], PayoutDetails(method="transfer", account_id=account()), lead
    )
    handle = stack.client.get_workflow_handle(claim_workflow_id(claim["id"]))
    await stack.act(handle, ClaimWorkflow.add_payout_details, lead, PayoutDetailsRef(id=ref.id, method=ref.method))
    after = await desk.get(claim["id"])
    assert (after["status"], after["payout_details_id"], after["payout_details_by"]) == (
        "specialist_review",
        ref.id,
        lead.user_id,
    )
