"""The claim process on the time-skipping server, with a real worker and a real database."""

import uuid
from datetime import date, timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError

from api.opening import open_claim
from api.users import add_user
from schema import tables
from schema.claims import ApprovalRequest, ClaimOpen, DecisionRequest, EvidenceAdd, WithdrawRequest
from schema.enums import ClaimStatus, Role
from schema.policy import load_policy
from workflows.claim import ClaimWorkflow, workflow_id

POLICY = load_policy("v1")


def new_claim(amount_cents=50_000, type="property_damage", incident=None) -> ClaimOpen:
    return ClaimOpen(
        customer_id=f"cus_{uuid.uuid4().hex[:6]}",
        pro_id=f"pro_{uuid.uuid4().hex[:6]}",
        project_id=f"prj_{uuid.uuid4().hex[:6]}",
        type=type,
        amount_cents=amount_cents,
        currency="USD",
        incident_date=incident or date.today(),
        channel="phone",
        description="water damage from a burst pipe the pro installed",
    )


async def open_(stack, opener, **kwargs):
    claim_id = await open_claim(stack.client, stack.sessions, opener, new_claim(**kwargs), POLICY, task_queue=stack.queue)
    return stack.client.get_workflow_handle(workflow_id(claim_id)), claim_id


PHOTO = EvidenceAdd(kind="photo", source="customer", note="ceiling stain")


async def to_review(stack, handle, specialist):
    await handle.execute_update(ClaimWorkflow.add_evidence, args=[specialist, PHOTO])
    await handle.execute_update(ClaimWorkflow.complete_evidence, specialist)


async def test_paid_path(stack):
    specialist, lead = stack.user(Role.specialist), stack.user(Role.lead)
    handle, claim_id = await open_(stack, specialist, amount_cents=120_000)
    assert stack.claim(claim_id).status == ClaimStatus.evidence_collection
    await to_review(stack, handle, specialist)
    assert stack.claim(claim_id).status == ClaimStatus.specialist_review
    decision = DecisionRequest(outcome="approve", amount_cents=100_000, rationale="invoice matches damage")
    await handle.execute_update(ClaimWorkflow.decide, args=[specialist, decision])
    claim = stack.claim(claim_id)
    assert (claim.status, claim.required_tier, claim.assignee) == ("pending_approval", "lead", "tier:lead")
    await handle.execute_update(ClaimWorkflow.review, args=[lead, ApprovalRequest(verdict="approve")])
    assert await handle.result() == ClaimStatus.paid
    claim = stack.claim(claim_id)
    assert claim.status == ClaimStatus.paid
    [payout] = stack.rows(tables.Payout, claim_id)
    assert (payout.amount_cents, payout.status, payout.attempt) == (100_000, "paid", 1)
    assert payout.idempotency_key == f"claim-{claim_id}-payout-1"
    assert [p for p in stack.provider.payments() if p[2] == claim_id][0][3] == 100_000
    assert stack.actions(claim_id) == [
        "opened",
        "evidence_added",
        "evidence_completed",
        "decided",
        "approved",
        "payout_started",
        "paid",
    ]
