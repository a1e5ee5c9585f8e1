"""The claim process on the time-skipping server, with a real worker and a real database."""

import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import select
from temporalio.client import WorkflowUpdateFailedError

from api.opening import open_claim
from api.users import add_user
from schema import tables
from schema.claims import ApprovalRequest, ClaimOpen, DecisionRequest, EvidenceAdd, WithdrawRequest
from schema.enums import ClaimStatus, Role
from schema.policy import load_policy
from worker import build_worker
from workflows.claim import ClaimWorkflow, workflow_id

POLICY = load_policy("v1")


@pytest.fixture
async def stack(env, sessions, provider):
    queue = f"claims-{uuid.uuid4().hex[:8]}"
    async with build_worker(env.client, sessions, provider, task_queue=queue):
        yield Stack(env, sessions, provider, queue)


class Stack:
    def __init__(self, env, sessions, provider, queue):
        self.env, self.sessions, self.provider, self.queue = env, sessions, provider, queue
        self.users = {}

    def user(self, role: Role):
        actor, _ = add_user(self.sessions, f"{role.value}-{uuid.uuid4().hex[:6]}", role)
        return actor

    async def open(self, opener, amount_cents=50_000, type="property_damage", incident=None):
        req = ClaimOpen(
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
        claim_id = await open_claim(self.env.client, self.sessions, opener, req, POLICY, task_queue=self.queue)
        return self.env.client.get_workflow_handle(workflow_id(claim_id)), claim_id

    def claim(self, claim_id) -> tables.Claim:
        with self.sessions() as db:
            return db.get(tables.Claim, claim_id)

    def rows(self, table, claim_id):
        with self.sessions() as db:
            return list(db.scalars(select(table).where(table.claim_id == claim_id).order_by(table.id)))

    def actions(self, claim_id):
        return [a.action for a in self.rows(tables.AuditEntry, claim_id) if a.action != "notified"]


PHOTO = EvidenceAdd(kind="photo", source="customer", note="ceiling stain")


async def to_review(stack, handle, specialist):
    await handle.execute_update(ClaimWorkflow.add_evidence, args=[specialist, PHOTO])
    await handle.execute_update(ClaimWorkflow.complete_evidence, specialist)


async def test_paid_path(stack):
    specialist, lead = stack.user(Role.specialist), stack.user(Role.lead)
    handle, claim_id = await stack.open(specialist, amount_cents=120_000)
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
