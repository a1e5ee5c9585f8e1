"""Updates sent straight to Temporal, as someone with access to the Temporal frontend but not the key would.

Finding: `execute_update(review, [Actor(user_id="u_ghost", role=director), ...])` paid a claim. Now
every human action must carry the service's signature over who, which role, which claim, which
action, when and what; anything else is refused before it reaches history, and nothing changes.
"""

from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError

from schema import tables
from schema.claims import Actor, ApprovalRequest, DecisionRequest
from schema.enums import Role
from service import users
from tests.conftest import SIGNING_KEY
from tests.test_claim_workflow import APPROVE, open_, to_review
from workflows.claim import ClaimWorkflow
from workflows.signed_actions import sign


async def pending_claim(stack):
    specialist = stack.user(Role.specialist)
    handle, claim_id = await open_(stack, specialist)
    await to_review(stack, handle, specialist)
    decision = DecisionRequest(outcome="approve", amount_cents=10_000, rationale="the invoice matches")
    await stack.act(handle, ClaimWorkflow.decide, specialist, decision)
    return handle, claim_id


async def refused(stack, handle, claim_id: str, args: list, code: str, update=ClaimWorkflow.review) -> str:
    """The Update is refused with `code`, and the claim's records are exactly as they were; the refusal's message."""
    before = [(a.id, a.action) for a in stack.rows(tables.AuditEntry, claim_id)], stack.claim(claim_id).status
    with pytest.raises(WorkflowUpdateFailedError) as refusal:
        await handle.execute_update(update, args=args)
    assert refusal.value.cause.type == code, refusal.value.cause
    after = [(a.id, a.action) for a in stack.rows(tables.AuditEntry, claim_id)], stack.claim(claim_id).status
    assert after == before
    return refusal.value.cause.message


async def signed(stack, claim_id: str, update, *args, key: bytes = SIGNING_KEY, ago=timedelta(0)) -> list:
    now = await stack.env.get_current_time()
    return sign(key, claim_id, update.__name__, list(args), now - ago)


async def test_a_ghost_director_is_refused(stack):
    handle, claim_id = await pending_claim(stack)
    ghost = Actor(user_id="u_ghost", name="ghost", role=Role.director)
    await refused(stack, handle, claim_id, [ghost, APPROVE], "unsigned_action")
    assert stack.claim(claim_id).status == "pending_approval"


async def test_a_signature_under_another_key_is_forged(stack):
    handle, claim_id = await pending_claim(stack)
    director = stack.user(Role.director)
    args = await signed(stack, claim_id, ClaimWorkflow.review, director, APPROVE, key=b"not the service's key")
    await refused(stack, handle, claim_id, args, "forged_action")


async def test_changing_what_was_signed_is_forged(stack):
    handle, claim_id = await pending_claim(stack)
    lead, director = stack.user(Role.lead), stack.user(Role.director)
    send_back = ApprovalRequest(verdict="send_back", note="wrong amount")
    actor, _ = await signed(stack, claim_id, ClaimWorkflow.review, lead, send_back)
    await refused(stack, handle, claim_id, [actor, APPROVE], "forged_action")  # another verdict
    promoted = actor.model_copy(update={"role": Role.director})
    await refused(stack, handle, claim_id, [promoted, send_back], "forged_action")  # another role
    someone = actor.model_copy(update={"user_id": director.user_id})
    await refused(stack, handle, claim_id, [someone, send_back], "forged_action")  # another person


async def test_a_signature_for_another_claim_or_action_is_refused(stack):
    handle, claim_id = await pending_claim(stack)
    other_handle, other_id = await pending_claim(stack)
    lead = stack.user(Role.lead)
    for_other = await signed(stack, other_id, ClaimWorkflow.review, lead, APPROVE)
    await refused(stack, handle, claim_id, for_other, "forged_action")
    signed_to_withdraw = await signed(stack, claim_id, ClaimWorkflow.withdraw, lead, APPROVE)
    await refused(stack, handle, claim_id, signed_to_withdraw, "forged_action")


async def test_an_old_signature_is_stale(stack):
    handle, claim_id = await pending_claim(stack)
    args = await signed(
        stack, claim_id, ClaimWorkflow.review, stack.user(Role.lead), APPROVE, ago=timedelta(minutes=10)
    )
    await refused(stack, handle, claim_id, args, "stale_action")


async def test_a_signed_action_sent_twice_is_refused_the_second_time(stack):
    handle, claim_id = await pending_claim(stack)
    lead = stack.user(Role.lead)
    note = ApprovalRequest(verdict="send_back", note="check the invoice date")
    args = await signed(stack, claim_id, ClaimWorkflow.review, lead, note)
    await handle.execute_update(ClaimWorkflow.review, args=args, id="first")
    assert stack.claim(claim_id).status == "specialist_review"
    await refused(stack, handle, claim_id, args, "replayed_action")


async def test_the_service_signed_action_is_believed(stack):
    """The control: the same approval, signed as the service signs it, is applied."""
    handle, claim_id = await pending_claim(stack)
    await handle.execute_update(
        ClaimWorkflow.review, args=await signed(stack, claim_id, ClaimWorkflow.review, stack.user(Role.lead), APPROVE)
    )
    assert stack.claim(claim_id).status in ("approved", "paying", "paid")


async def test_an_action_signed_before_its_user_was_deactivated_is_refused(stack):
    """Signed while the lead was active, arriving after they were deactivated: refused, nothing changed."""
    handle, claim_id = await pending_claim(stack)
    lead = stack.user(Role.lead)
    args = await signed(stack, claim_id, ClaimWorkflow.review, lead, APPROVE)
    users.deactivate(stack.sessions, lead.name)
    # The approval and the payout's start are one write: refused together, and said so.
    assert "recorded" not in await refused(stack, handle, claim_id, args, "inactive_user")
    await stack.act(handle, ClaimWorkflow.review, stack.user(Role.lead), APPROVE)
    assert stack.claim(claim_id).status in ("approved", "paying", "paid"), "the claim goes on without them"
