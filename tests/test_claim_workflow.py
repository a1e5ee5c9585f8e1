"""The claim process on the time-skipping server, with a real worker and a real database."""

import asyncio
import json
import os
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowUpdateFailedError

from schema import tables
from schema.claims import (
    ApprovalRequest,
    Assignment,
    AssignRequest,
    ClaimOpen,
    DecisionRequest,
    EvidenceAdd,
    PayoutDetails,
    WithdrawRequest,
)
from schema.enums import ClaimStatus, Role
from schema.names import claim_workflow_id
from schema.policy import load_policy
from service import claims, payout_details
from stack import search_attributes as sa
from tests.codec_key import CONVERTER
from tests.history_payloads import decoded, payloads
from workflows.claim import ClaimWorkflow

POLICY = load_policy("v1")


def new_claim(amount_cents=50_000, type="property_damage", incident=None, **ids) -> ClaimOpen:
    fresh = {f"{who}_id": f"{who[:3]}_{uuid.uuid4().hex[:6]}" for who in ("customer", "pro", "project")}
    return ClaimOpen(
        **(fresh | ids),
        type=type,
        amount_cents=amount_cents,
        currency="USD",
        incident_date=incident or datetime.now(UTC).date(),
        channel="phone",
        description="water damage from a burst pipe the pro installed",
    )


async def open_(stack, opener, policy=POLICY, **kwargs):
    ctx = stack.ctx if policy is POLICY else stack.context(policy, stack.ctx.evidence.staging)
    claim = await claims.open_claim(ctx, opener, new_claim(**kwargs))
    return stack.client.get_workflow_handle(claim_workflow_id(claim.id)), claim.id


async def eventually(check, what: str, seconds: float = 10):
    """Poll the database until `check()` holds: timers fire in the server, activities run in the worker."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not check():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def rejected(update, code: str):
    with pytest.raises(WorkflowUpdateFailedError) as info:
        await update
    assert info.value.cause.type == code, info.value.cause
    return info.value.cause.message


def approve(amount_cents: int) -> DecisionRequest:
    return DecisionRequest(outcome="approve", amount_cents=amount_cents, rationale="the invoice matches the damage")


APPROVE = ApprovalRequest(verdict="approve")


# Recorded through the codec (the tests' key); the histories recorded before it stay in histories/.
HISTORIES = Path(__file__).parent / "histories" / "codec"
# Bump when the workflow changes, so recording adds new histories beside the ones running claims have.
HISTORY_GENERATION = "v11"


async def keep_history(handle, name: str) -> None:
    """With GUARANTEE_RECORD_HISTORIES=1, save the finished claim's history for the replay test."""
    if os.environ.get("GUARANTEE_RECORD_HISTORIES"):
        HISTORIES.mkdir(parents=True, exist_ok=True)
        history = await handle.fetch_history()
        (HISTORIES / f"{HISTORY_GENERATION}-{name}.json").write_text(history.to_json())


async def history_text(handle) -> str:
    """Every payload in the claim's history, decrypted: what anyone who also holds the codec key can read."""
    codec = CONVERTER.payload_codec
    history = json.loads((await handle.fetch_history()).to_json())
    found = [(await decoded(p, codec)).decode(errors="replace") for _, p in payloads(history)]
    assert found, "the history has payloads"
    return "\n".join(found)


def round_to_hours(delta: timedelta) -> timedelta:
    """Timer offsets are whole hours; the events carry the milliseconds of the activities before them."""
    return timedelta(hours=round(delta / timedelta(hours=1)))


PHOTO = EvidenceAdd(kind="photo", source="customer", note="ceiling stain")


async def to_review(stack, handle, specialist, account="acct_customer1"):
    """Evidence and payout details in, evidence complete: the claim waits for a decision."""
    await stack.act(handle, ClaimWorkflow.add_evidence, specialist, PHOTO)
    await add_details(stack, handle, specialist, PayoutDetails(method="transfer", account_id=account))
    await stack.act(handle, ClaimWorkflow.complete_evidence, specialist)


async def add_details(stack, handle, actor, details: PayoutDetails | None = None):
    """Payout details stored, then sent to the claim, as the service does."""
    details = details or PayoutDetails(method="transfer", account_id="acct_customer1")
    ref = payout_details.store(stack.sessions, handle.id.removeprefix("claim-"), details, actor)
    await stack.act(handle, ClaimWorkflow.add_payout_details, actor, ref)
    return ref


async def test_paid_path(stack):
    specialist, lead = stack.user(Role.specialist), stack.user(Role.lead)
    handle, claim_id = await open_(stack, specialist, amount_cents=120_000)
    assert stack.claim(claim_id).status == ClaimStatus.evidence_collection
    await to_review(stack, handle, specialist)
    assert stack.claim(claim_id).status == ClaimStatus.specialist_review
    await stack.act(handle, ClaimWorkflow.decide, specialist, approve(100_000))
    claim = stack.claim(claim_id)
    assert (claim.status, claim.required_tier, claim.assignee) == ("pending_approval", "lead", "tier:lead")
    await stack.act(handle, ClaimWorkflow.review, lead, APPROVE)
    assert await stack.result(claim_id) == ClaimStatus.paid
    await keep_history(handle, "paid")
    found = (await handle.describe()).typed_search_attributes
    assert (found[sa.CLAIM_STATUS], found[sa.CLAIM_AMOUNT], found[sa.CLAIM_ASSIGNEE]) == ("paid", 100_000, "")
    claim = stack.claim(claim_id)
    assert claim.status == ClaimStatus.paid
    [payout] = stack.rows(tables.Payout, claim_id)
    assert (payout.amount_cents, payout.status, payout.attempt) == (100_000, "paid", 1)
    assert payout.idempotency_key == f"claim-{claim_id}-payout-1"
    [transfer] = stack.stub.transfers(claim_id)
    assert (transfer.id, transfer.amount, transfer.currency) == (payout.provider_ref, 100_000, "usd")
    assert transfer.destination == "acct_customer1"
    assert "acct_customer1" not in await history_text(handle), "payout details stay out of Temporal history"
    assert (transfer.transfer_group, transfer.metadata["attempt"]) == (f"claim-{claim_id}", "1")
    assert stack.actions(claim_id) == [
        "opened",
        "evidence_added",
        "payout_details_added",
        "evidence_completed",
        "decided",
        "approved",
        "payout_started",
        "paid",
    ]
    # A lean history: the claim's events recorded by local activities (a marker each, no activity task or
    # workflow task of their own), one marker for every workflow change, and the search attributes upserted
    # only when one changes.
    events = [e.event_type for e in (await handle.fetch_history()).events]
    kinds = Counter(EventType.Name(t).removeprefix("EVENT_TYPE_").lower() for t in events)
    recorded = len(stack.rows(tables.AuditEntry, claim_id))
    # The payout is the one activity of its own; the customer's mail is a local activity too (a marker). The
    # notices of the decision and of the payment are written with them, and the approval with the payout's start,
    # by one local activity each.
    patches, writes = 2, recorded - 3
    assert kinds["activity_task_scheduled"] == 1 and kinds["marker_recorded"] == writes + patches + 1
    changes = ["specialist_review", "pending_approval", "paying", "paid"]
    # One per change of status, assignee or amount, and the SDK's own per patch (TemporalChangeVersion).
    assert kinds["upsert_workflow_search_attributes"] == len(changes) + patches, kinds
    assert len(events) <= 66, kinds


async def test_paid_path_opened_with_payout_details(stack):
    """Details given with the claim are recorded in its first workflow task: no Update of their own."""
    specialist, lead = stack.user(Role.specialist), stack.user(Role.lead)
    details = PayoutDetails(method="transfer", account_id="acct_atopen")
    claim = await claims.open_claim(stack.ctx, specialist, new_claim(amount_cents=120_000), payout=details)
    handle = stack.client.get_workflow_handle(claim_workflow_id(claim.id))
    [row] = stack.rows(tables.PayoutDetail, claim.id)
    assert (claim.payout_details_id, row.destination, row.added_by) == (row.id, "acct_atopen", specialist.user_id)
    assert stack.actions(claim.id) == ["opened", "payout_details_added"]
    await stack.act(handle, ClaimWorkflow.add_evidence, specialist, PHOTO)
    await stack.act(handle, ClaimWorkflow.complete_evidence, specialist)
    await stack.act(handle, ClaimWorkflow.decide, specialist, approve(100_000))
    await stack.act(handle, ClaimWorkflow.review, lead, APPROVE)
    assert await stack.result(claim.id) == ClaimStatus.paid
    await keep_history(handle, "paid_opened_with_details")
    [transfer] = stack.stub.transfers(claim.id)
    assert transfer.destination == "acct_atopen"
    assert "acct_atopen" not in await history_text(handle), "payout details stay out of Temporal history"
    assert len((await handle.fetch_history()).events) <= 60


async def test_opening_again_keeps_the_details_the_claim_has(stack):
    """The same claim_id opened again (a lost answer) opens nothing new, and leaves no details behind."""
    specialist = stack.user(Role.specialist)
    first, second = (PayoutDetails(method="transfer", account_id=a) for a in ("acct_first1", "acct_second2"))
    unowned = tables.PayoutDetail.claim_id.is_(None)
    with stack.sessions() as db:
        before = db.query(tables.PayoutDetail).filter(unowned).count()  # other tests' failed openings leave some
    claim = await claims.open_claim(stack.ctx, specialist, new_claim(), payout=first, claim_id=uuid.uuid4().hex[:12])
    again = await claims.open_claim(stack.ctx, specialist, new_claim(), payout=second, claim_id=claim.id)
    assert again.payout_details_id == claim.payout_details_id
    assert [d.destination for d in stack.rows(tables.PayoutDetail, claim.id)] == ["acct_first1"]
    with stack.sessions() as db:
        assert db.query(tables.PayoutDetail).filter(unowned).count() == before


async def test_denied_path(stack):
    specialist, lead = stack.user(Role.specialist), stack.user(Role.lead)
    handle, claim_id = await open_(stack, specialist)
    await to_review(stack, handle, specialist)
    deny = DecisionRequest(outcome="deny", reason_code="excluded_peril", rationale="flood damage is excluded")
    await stack.act(handle, ClaimWorkflow.decide, specialist, deny)
    assert stack.claim(claim_id).required_tier == POLICY.denial_needs_tier
    await stack.act(handle, ClaimWorkflow.review, lead, APPROVE)
    assert await stack.result(claim_id) == ClaimStatus.denied
    await keep_history(handle, "denied")
    assert stack.rows(tables.Payout, claim_id) == []
    assert stack.actions(claim_id)[-2:] == ["decided", "denied"]
    [decision] = stack.rows(tables.Decision, claim_id)
    assert (decision.outcome, decision.reason_code) == ("deny", "excluded_peril")
    notes = stack.rows(tables.Notification, claim_id)
    assert notes[-1].kind == "claim_denied" and notes[-1].recipient == stack.claim(claim_id).customer_id


async def test_sent_back_and_decided_again(stack):
    specialist, lead = stack.user(Role.specialist), stack.user(Role.lead)
    handle, claim_id = await open_(stack, specialist, amount_cents=200_000)
    await to_review(stack, handle, specialist)
    await stack.act(handle, ClaimWorkflow.decide, specialist, approve(200_000))
    send_back = ApprovalRequest(verdict="send_back", note="the invoice covers two rooms; pay for one")
    await stack.act(handle, ClaimWorkflow.review, lead, send_back)
    claim = stack.claim(claim_id)
    assert (claim.status, claim.assignee, claim.required_tier) == ("specialist_review", specialist.user_id, None)
    await stack.act(handle, ClaimWorkflow.decide, specialist, approve(120_000))
    await stack.act(handle, ClaimWorkflow.review, lead, APPROVE)
    assert await stack.result(claim_id) == ClaimStatus.paid
    await keep_history(handle, "sent_back")
    assert [(d.round, d.amount_cents) for d in stack.rows(tables.Decision, claim_id)] == [(1, 200_000), (2, 120_000)]
    assert [(a.round, a.verdict) for a in stack.rows(tables.Approval, claim_id)] == [(1, "send_back"), (2, "approve")]
    assert [p.amount_cents for p in stack.rows(tables.Payout, claim_id)] == [120_000]


async def test_withdrawn(stack):
    specialist = stack.user(Role.specialist)
    handle, claim_id = await open_(stack, specialist)
    await to_review(stack, handle, specialist)
    reason = WithdrawRequest(reason="the customer settled with the pro directly")
    await stack.act(handle, ClaimWorkflow.withdraw, specialist, reason)
    assert await stack.result(claim_id) == ClaimStatus.withdrawn
    await keep_history(handle, "withdrawn")
    [entry] = [a for a in stack.rows(tables.AuditEntry, claim_id) if a.action == "withdrawn"]
    assert (entry.actor_id, entry.reason, entry.from_status) == (specialist.user_id, reason.reason, "specialist_review")


async def refused_payout(stack, account: str, **claim):
    """A claim approved to a connected account the provider refuses: it waits in payout_failed."""
    stack.stub.control.faults(declined_destinations=[account])
    specialist, lead = stack.user(Role.specialist), stack.user(Role.lead)
    handle, claim_id = await open_(stack, specialist, **claim)
    await to_review(stack, handle, specialist, account=account)
    await stack.act(handle, ClaimWorkflow.decide, specialist, approve(10_000))
    await stack.act(handle, ClaimWorkflow.review, lead, APPROVE)
    await eventually(lambda: stack.claim(claim_id).status == "payout_failed", "the refused payout")
    await eventually(lambda: stack.claim(claim_id).assignee == "tier:finance", "finance to be told")
    await eventually(
        lambda: any(n.kind == "payout_failed" for n in stack.rows(tables.Notification, claim_id)), "the notification"
    )
    stack.stub.control.clear_faults()
    return handle, claim_id, specialist


async def test_a_refused_payout_waits_for_finance_and_cannot_be_withdrawn(stack):
    handle, claim_id, specialist = await refused_payout(stack, "acct_refuses1")
    [payout] = stack.rows(tables.Payout, claim_id)
    assert (payout.status, payout.failure_code, payout.method) == ("failed", "account_invalid", "transfer")
    assert stack.claim(claim_id).assignee == "tier:finance"
    assert [n.recipient for n in stack.rows(tables.Notification, claim_id) if n.kind == "payout_failed"] == [
        "tier:finance"
    ]
    withdraw = stack.act(handle, ClaimWorkflow.withdraw, specialist, WithdrawRequest(reason="x"))
    assert "money" in await rejected(withdraw, "money_moved")
    lead = stack.user(Role.lead)
    retry = stack.act(handle, ClaimWorkflow.retry_payout, lead, "try again", None)
    assert "finance" in await rejected(retry, "insufficient_authority")
    assert stack.stub.transfers(claim_id) == []


async def decide_and_approve_again(stack, handle, specialist, amount_cents: int = 10_000) -> None:
    """New payout details voided the decision: the specialist decides again and a lead approves again."""
    await stack.act(handle, ClaimWorkflow.decide, specialist, approve(amount_cents))
    await stack.act(handle, ClaimWorkflow.review, stack.user(Role.lead), APPROVE)


async def test_finance_retries_a_refused_payout_to_new_details(stack):
    handle, claim_id, specialist = await refused_payout(stack, "acct_refuses2")
    finance = stack.user(Role.finance)
    ref = payout_details.store(
        stack.sessions, claim_id, PayoutDetails(method="transfer", account_id="acct_fixed"), finance
    )
    await stack.act(handle, ClaimWorkflow.retry_payout, finance, "customer gave a new account", ref)
    claim = stack.claim(claim_id)
    assert (claim.status, claim.assignee, claim.payout_details_by) == (
        "specialist_review",
        specialist.user_id,
        finance.user_id,
    ), "new details go back for a decision and an approval before money moves"
    assert stack.rows(tables.Payout, claim_id)[-1].attempt == 1
    await decide_and_approve_again(stack, handle, specialist)
    assert await stack.result(claim_id) == ClaimStatus.paid
    await keep_history(handle, "payout_retried")
    payouts = stack.rows(tables.Payout, claim_id)
    assert [(p.attempt, p.status, p.idempotency_key) for p in payouts] == [
        (1, "failed", f"claim-{claim_id}-payout-1"),
        (2, "paid", f"claim-{claim_id}-payout-2"),
    ]
    [transfer] = stack.stub.transfers(claim_id)
    assert (transfer.id, transfer.destination, transfer.amount) == (payouts[1].provider_ref, "acct_fixed", 10_000)
    [retried] = [a for a in stack.rows(tables.AuditEntry, claim_id) if a.action == "payout_retried"]
    assert (retried.actor_id, retried.reason, retried.to_status) == (
        finance.user_id,
        f"customer gave a new account (to new payout details #{ref.id}, transfer); decide and approve again",
        "specialist_review",
    )


async def test_finance_cancels_a_refused_payout(stack):
    handle, claim_id, _ = await refused_payout(stack, "acct_refuses3")
    finance = stack.user(Role.finance)
    await stack.act(handle, ClaimWorkflow.cancel_payout, finance, "paid by cheque outside the platform")
    assert await stack.result(claim_id) == ClaimStatus.payout_cancelled
    await keep_history(handle, "payout_cancelled")
    [cancelled] = [a for a in stack.rows(tables.AuditEntry, claim_id) if a.action == "payout_cancelled"]
    assert (cancelled.actor_id, cancelled.reason) == (finance.user_id, "paid by cheque outside the platform")
    assert stack.stub.transfers(claim_id) == []


async def test_approval_needs_payout_details(stack):
    specialist = stack.user(Role.specialist)
    handle, _ = await open_(stack, specialist)
    await stack.act(handle, ClaimWorkflow.add_evidence, specialist, PHOTO)
    await stack.act(handle, ClaimWorkflow.complete_evidence, specialist)
    await rejected(stack.act(handle, ClaimWorkflow.decide, specialist, approve(1_000)), "payout_details_required")


async def test_refunds_are_for_money_back_claims(stack):
    specialist = stack.user(Role.specialist)
    handle, claim_id = await open_(stack, specialist)
    ref = payout_details.store(stack.sessions, claim_id, PayoutDetails(method="refund", charge_id="ch_1"), specialist)
    await rejected(stack.act(handle, ClaimWorkflow.add_payout_details, specialist, ref), "invalid_payout_method")


async def test_a_money_back_claim_is_paid_by_refunding_the_charge(stack):
    specialist, lead = stack.user(Role.specialist), stack.user(Role.lead)
    charge = stack.stub.client.v1.charges.create(params={"amount": 90_000, "currency": "usd", "source": "tok_visa"})
    handle, claim_id = await open_(stack, specialist, type="work_not_done", amount_cents=90_000)
    ref = payout_details.store(
        stack.sessions, claim_id, PayoutDetails(method="refund", charge_id=charge.id), specialist
    )
    await stack.act(handle, ClaimWorkflow.add_payout_details, specialist, ref)
    await stack.act(handle, ClaimWorkflow.add_evidence, specialist, PHOTO)
    await stack.act(handle, ClaimWorkflow.complete_evidence, specialist)
    await stack.act(handle, ClaimWorkflow.decide, specialist, approve(60_000))
    await stack.act(handle, ClaimWorkflow.review, lead, APPROVE)
    assert await stack.result(claim_id) == ClaimStatus.paid
    await keep_history(handle, "refund")
    [payout] = stack.rows(tables.Payout, claim_id)
    refund = stack.stub.client.v1.refunds.retrieve(payout.provider_ref)
    assert (refund.charge, refund.amount, refund.metadata["claim_id"], payout.method) == (
        charge.id,
        60_000,
        claim_id,
        "refund",
    )


async def test_no_evidence_by_the_deadline_closes_the_claim(stack):
    specialist = stack.user(Role.specialist)
    handle, claim_id = await open_(stack, specialist)
    assert await stack.result(claim_id) == ClaimStatus.closed_no_evidence
    await keep_history(handle, "no_evidence")
    reminders = [n for n in stack.rows(tables.Notification, claim_id) if n.kind == "evidence_reminder"]
    assert len(reminders) == len(POLICY.evidence.reminder_hours)
    assert {n.recipient for n in reminders} == {stack.claim(claim_id).customer_id}
    opened = stack.rows(tables.AuditEntry, claim_id)[0].at
    assert [round_to_hours(n.at - opened) for n in reminders] == POLICY.reminder_offsets()
    closed = [a for a in stack.rows(tables.AuditEntry, claim_id) if a.action == "evidence_window_closed"]
    assert closed[0].to_status == "closed_no_evidence"
    assert round_to_hours(closed[0].at - opened) == POLICY.evidence_window()


async def test_evidence_window_ends_in_review_when_evidence_arrived(stack):
    specialist = stack.user(Role.specialist)
    handle, claim_id = await open_(stack, specialist)
    await stack.act(handle, ClaimWorkflow.add_evidence, specialist, PHOTO)
    await stack.env.sleep(POLICY.evidence_window() + timedelta(hours=1))
    await eventually(lambda: stack.claim(claim_id).status == "specialist_review", "the window to close")
    kinds = [n.kind for n in stack.rows(tables.Notification, claim_id)]
    assert "evidence_reminder" not in kinds, "the customer already sent evidence"
    await add_details(stack, handle, specialist)
    await stack.act(handle, ClaimWorkflow.decide, specialist, approve(10_000))
    await stack.act(handle, ClaimWorkflow.review, stack.user(Role.lead), APPROVE)
    assert await stack.result(claim_id) == ClaimStatus.paid
    await keep_history(handle, "evidence_window_closed")


async def test_decision_sla_breach_is_recorded_and_the_lead_told(stack):
    specialist, lead = stack.user(Role.specialist), stack.user(Role.lead)
    handle, claim_id = await open_(stack, specialist)
    await to_review(stack, handle, specialist)
    await stack.env.sleep(POLICY.decision_sla() + timedelta(hours=1))
    await eventually(lambda: stack.claim(claim_id).sla_breaches == ["decision"], "the decision SLA")
    assert [n.recipient for n in stack.rows(tables.Notification, claim_id) if n.kind == "decision_overdue"] == [
        "tier:lead"
    ]
    await stack.act(handle, ClaimWorkflow.decide, specialist, approve(10_000))
    await stack.act(handle, ClaimWorkflow.review, lead, APPROVE)
    assert await stack.result(claim_id) == ClaimStatus.paid
    await keep_history(handle, "decision_sla")


async def test_approval_sla_escalates_to_the_next_tier(stack):
    specialist, lead, manager = stack.user(Role.specialist), stack.user(Role.lead), stack.user(Role.manager)
    handle, claim_id = await open_(stack, specialist)
    await to_review(stack, handle, specialist)
    await stack.act(handle, ClaimWorkflow.decide, specialist, approve(20_000))
    assert stack.claim(claim_id).required_tier == "lead"
    await stack.env.sleep(POLICY.approval_sla() + timedelta(hours=1))
    await eventually(lambda: stack.claim(claim_id).required_tier == "manager", "the escalation")
    claim = stack.claim(claim_id)
    assert (claim.assignee, claim.sla_breaches, claim.status) == ("tier:manager", ["approval"], "pending_approval")
    found = (await handle.describe()).typed_search_attributes
    assert (found[sa.CLAIM_STATUS], found[sa.CLAIM_ASSIGNEE]) == ("pending_approval", "tier:manager")
    await rejected(stack.act(handle, ClaimWorkflow.review, lead, APPROVE), "insufficient_authority")
    await stack.act(handle, ClaimWorkflow.review, manager, APPROVE)
    assert await stack.result(claim_id) == ClaimStatus.paid
    await keep_history(handle, "escalated")
    assert "escalated" in stack.actions(claim_id)


async def test_over_a_leads_limit_needs_a_manager(stack):
    specialist, lead, manager = stack.user(Role.specialist), stack.user(Role.lead), stack.user(Role.manager)
    handle, claim_id = await open_(stack, specialist, amount_cents=900_000)
    await to_review(stack, handle, specialist)
    await stack.act(handle, ClaimWorkflow.decide, specialist, approve(300_000))
    assert stack.claim(claim_id).required_tier == "manager"
    message = await rejected(stack.act(handle, ClaimWorkflow.review, lead, APPROVE), "insufficient_authority")
    assert "manager" in message
    await stack.act(handle, ClaimWorkflow.review, manager, APPROVE)
    assert await stack.result(claim_id) == ClaimStatus.paid


async def test_over_a_managers_limit_needs_a_director(stack):
    specialist, manager, director = stack.user(Role.specialist), stack.user(Role.manager), stack.user(Role.director)
    handle, claim_id = await open_(stack, specialist, amount_cents=5_000_000)
    await to_review(stack, handle, specialist)
    await stack.act(handle, ClaimWorkflow.decide, specialist, approve(3_000_000))
    await rejected(stack.act(handle, ClaimWorkflow.review, manager, APPROVE), "insufficient_authority")
    await stack.act(handle, ClaimWorkflow.review, director, APPROVE)
    assert await stack.result(claim_id) == ClaimStatus.paid


# v1's largest cap equals a director's limit; a policy with a higher cap reaches the top tier.
HIGH_CAP = POLICY.model_copy(
    update={
        "version": "test-high-cap",
        "claim_types": POLICY.claim_types
        | {"property_damage": POLICY.claim_types["property_damage"].model_copy(update={"cap_cents": 50_000_000})},
    }
)


async def test_over_a_directors_limit_needs_a_director_and_finance(stack):
    specialist, director, director2, finance = (
        stack.user(Role.specialist),
        stack.user(Role.director),
        stack.user(Role.director),
        stack.user(Role.finance),
    )
    handle, claim_id = await open_(stack, specialist, policy=HIGH_CAP, amount_cents=20_000_000)
    await to_review(stack, handle, specialist)
    await stack.act(handle, ClaimWorkflow.decide, specialist, approve(15_000_000))
    assert stack.claim(claim_id).required_tier == "director_and_finance"
    await stack.act(handle, ClaimWorkflow.review, director, APPROVE)
    assert stack.claim(claim_id).status == "pending_approval", "one approval of two"
    await rejected(stack.act(handle, ClaimWorkflow.review, director2, APPROVE), "already_approved")
    await stack.act(handle, ClaimWorkflow.review, finance, APPROVE)
    assert await stack.result(claim_id) == ClaimStatus.paid
    await keep_history(handle, "director_and_finance")
    assert stack.claim(claim_id).policy_version == "test-high-cap"
    assert {(a.approver_role, a.verdict) for a in stack.rows(tables.Approval, claim_id)} == {
        ("director", "approve"),
        ("finance", "approve"),
    }


async def test_approvers_may_not_confirm_their_own_claims(stack):
    lead, other_lead, manager = stack.user(Role.lead), stack.user(Role.lead), stack.user(Role.manager)
    handle, claim_id = await open_(stack, lead)
    await to_review(stack, handle, lead)
    await stack.act(handle, ClaimWorkflow.decide, other_lead, approve(10_000))
    assert "decision" in await rejected(
        stack.act(handle, ClaimWorkflow.review, other_lead, APPROVE), "conflict_of_interest"
    )
    assert "opened" in await rejected(stack.act(handle, ClaimWorkflow.review, lead, APPROVE), "conflict_of_interest")
    await stack.act(handle, ClaimWorkflow.review, manager, APPROVE)
    assert await stack.result(claim_id) == ClaimStatus.paid


async def test_decision_rules(stack):
    specialist = stack.user(Role.specialist)
    handle, claim_id = await open_(stack, specialist, amount_cents=11_000_000)
    await rejected(stack.act(handle, ClaimWorkflow.decide, specialist, approve(1)), "invalid_state")
    await to_review(stack, handle, specialist)
    assert "cap" in await rejected(stack.act(handle, ClaimWorkflow.decide, specialist, approve(10_000_001)), "over_cap")
    handle2, _ = await open_(stack, specialist, amount_cents=5_000)
    await to_review(stack, handle2, specialist)
    await rejected(stack.act(handle2, ClaimWorkflow.decide, specialist, approve(5_001)), "over_claimed")
    no_reason = DecisionRequest(outcome="deny", rationale="no")
    await rejected(stack.act(handle2, ClaimWorkflow.decide, specialist, no_reason), "reason_required")
    assert stack.actions(claim_id) == ["opened", "evidence_added", "payout_details_added", "evidence_completed"]


async def test_an_ineligible_claim_can_only_be_denied(stack):
    specialist, lead = stack.user(Role.specialist), stack.user(Role.lead)
    late = datetime.now(UTC).date() - timedelta(days=POLICY.claim_types["property_damage"].filing_window_days + 1)
    handle, claim_id = await open_(stack, specialist, incident=late)
    assert stack.claim(claim_id).eligibility_issues == ["outside_filing_window"]
    await to_review(stack, handle, specialist)
    await rejected(stack.act(handle, ClaimWorkflow.decide, specialist, approve(1_000)), "ineligible")
    deny = DecisionRequest(outcome="deny", reason_code="outside_filing_window", rationale="filed too late")
    await stack.act(handle, ClaimWorkflow.decide, specialist, deny)
    await stack.act(handle, ClaimWorkflow.review, lead, APPROVE)
    assert await stack.result(claim_id) == ClaimStatus.denied


async def test_concurrent_decisions_apply_once(stack):
    specialist, other = stack.user(Role.specialist), stack.user(Role.specialist)
    handle, claim_id = await open_(stack, specialist)
    await to_review(stack, handle, specialist)
    results = await asyncio.gather(
        stack.act(handle, ClaimWorkflow.decide, specialist, approve(10_000)),
        stack.act(handle, ClaimWorkflow.decide, other, approve(20_000)),
        return_exceptions=True,
    )
    assert sum(r == ClaimStatus.pending_approval for r in results) == 1, results
    assert len(stack.rows(tables.Decision, claim_id)) == 1


async def test_late_evidence_is_flagged(stack):
    specialist = stack.user(Role.specialist)
    handle, claim_id = await open_(stack, specialist)
    await to_review(stack, handle, specialist)
    await stack.act(handle, ClaimWorkflow.add_evidence, specialist, PHOTO)
    assert [e.after_decision_requested for e in stack.rows(tables.Evidence, claim_id)] == [False, True]
    await stack.act(handle, ClaimWorkflow.decide, specialist, approve(10_000))
    await stack.act(handle, ClaimWorkflow.add_evidence, specialist, PHOTO)
    await stack.act(handle, ClaimWorkflow.review, stack.user(Role.lead), APPROVE)
    assert await stack.result(claim_id) == ClaimStatus.paid
    await keep_history(handle, "late_evidence")
    assert [e.after_decision_requested for e in stack.rows(tables.Evidence, claim_id)] == [False, True, True]


async def test_a_top_tier_approval_sla_breach_is_recorded_and_the_claim_waits(stack):
    specialist, director = stack.user(Role.specialist), stack.user(Role.director)
    handle, claim_id = await open_(stack, specialist, amount_cents=3_000_000)
    await to_review(stack, handle, specialist)
    await stack.act(handle, ClaimWorkflow.decide, specialist, approve(3_000_000))
    assert stack.claim(claim_id).required_tier == "director"
    await stack.env.sleep(POLICY.approval_sla() + timedelta(hours=1))
    await eventually(lambda: stack.claim(claim_id).sla_breaches == ["approval"], "the approval SLA")
    claim = stack.claim(claim_id)
    assert (claim.status, claim.required_tier, claim.assignee) == ("pending_approval", "director", "tier:director")
    overdue = [n.recipient for n in stack.rows(tables.Notification, claim_id) if n.kind == "approval_overdue"]
    assert overdue == ["tier:director"]
    await stack.act(handle, ClaimWorkflow.review, director, APPROVE)
    assert await stack.result(claim_id) == ClaimStatus.paid
    await keep_history(handle, "top_tier_sla")
    assert "escalated" not in stack.actions(claim_id)


async def test_two_escalations_in_a_row_reach_a_director(stack):
    specialist, manager, director = stack.user(Role.specialist), stack.user(Role.manager), stack.user(Role.director)
    handle, claim_id = await open_(stack, specialist)
    await to_review(stack, handle, specialist)
    await stack.act(handle, ClaimWorkflow.decide, specialist, approve(20_000))
    for tier in ("manager", "director"):
        await stack.env.sleep(POLICY.approval_sla() + timedelta(hours=1))
        await eventually(lambda tier=tier: stack.claim(claim_id).required_tier == tier, f"escalation to {tier}")
    assert stack.claim(claim_id).sla_breaches == ["approval", "approval"]
    await rejected(stack.act(handle, ClaimWorkflow.review, manager, APPROVE), "insufficient_authority")
    await stack.act(handle, ClaimWorkflow.review, director, APPROVE)
    assert await stack.result(claim_id) == ClaimStatus.paid
    await keep_history(handle, "escalated_twice")
    assert [a for a in stack.actions(claim_id) if a == "escalated"] == ["escalated", "escalated"]


async def test_a_claim_keeps_the_policy_it_was_opened_under(stack):
    """60,000.00: a director's to approve under v1; under v2, above a director's limit, a director and finance."""
    specialist, director, finance = stack.user(Role.specialist), stack.user(Role.director), stack.user(Role.finance)
    (old, old_id), (new, new_id) = [
        await open_(stack, specialist, policy=load_policy(v), amount_cents=6_000_000) for v in ("v1", "v2")
    ]
    for handle in (old, new):
        await to_review(stack, handle, specialist)
        await stack.act(handle, ClaimWorkflow.decide, specialist, approve(6_000_000))
    assert [(stack.claim(c).policy_version, stack.claim(c).required_tier) for c in (old_id, new_id)] == [
        ("v1", "director"),
        ("v2", "director_and_finance"),
    ]
    for handle in (old, new):
        await stack.act(handle, ClaimWorkflow.review, director, APPROVE)
    assert await stack.result(old_id) == ClaimStatus.paid
    assert stack.claim(new_id).status == "pending_approval", "v2 waits for finance"
    await stack.act(handle, ClaimWorkflow.review, finance, APPROVE)
    assert await stack.result(new_id) == ClaimStatus.paid


async def test_a_retried_payout_that_fails_again_waits_for_finance_again(stack):
    handle, claim_id, specialist = await refused_payout(stack, "acct_refuses4")
    finance = stack.user(Role.finance)
    stack.stub.control.faults(declined_destinations=["acct_refuses5"])
    still_closed = transfer_details(stack, claim_id, finance, "acct_refuses5")
    await stack.act(handle, ClaimWorkflow.retry_payout, finance, "the customer's second account", still_closed)
    await decide_and_approve_again(stack, handle, specialist)
    await eventually(lambda: len(stack.rows(tables.Payout, claim_id)) == 2, "the second attempt")
    await eventually(lambda: stack.claim(claim_id).status == "payout_failed", "the second refusal")
    stack.stub.control.clear_faults()
    good = transfer_details(stack, claim_id, finance, "acct_works6")
    await stack.act(handle, ClaimWorkflow.retry_payout, finance, "a third account", good)
    await decide_and_approve_again(stack, handle, specialist)
    assert await stack.result(claim_id) == ClaimStatus.paid
    assert [(p.attempt, p.status, p.failure_code) for p in stack.rows(tables.Payout, claim_id)] == [
        (1, "failed", "account_invalid"),
        (2, "failed", "account_invalid"),
        (3, "paid", None),
    ]
    failed = [n for n in stack.rows(tables.Notification, claim_id) if n.kind == "payout_failed"]
    assert len(failed) == 2, "finance is told each time"
    [transfer] = stack.stub.transfers(claim_id)
    assert transfer.destination == "acct_works6"


def transfer_details(stack, claim_id: str, actor, account: str):
    return payout_details.store(stack.sessions, claim_id, PayoutDetails(method="transfer", account_id=account), actor)


async def test_a_refused_transfer_is_retried_as_a_refund_of_the_charge(stack):
    handle, claim_id, specialist = await refused_payout(stack, "acct_refuses7", type="work_not_done")
    charge = stack.stub.client.v1.charges.create(params={"amount": 10_000, "currency": "usd", "source": "tok_visa"})
    finance = stack.user(Role.finance)
    ref = payout_details.store(stack.sessions, claim_id, PayoutDetails(method="refund", charge_id=charge.id), finance)
    await stack.act(handle, ClaimWorkflow.retry_payout, finance, "refund the card instead", ref)
    await decide_and_approve_again(stack, handle, specialist)
    assert await stack.result(claim_id) == ClaimStatus.paid
    first, second = stack.rows(tables.Payout, claim_id)
    assert (first.method, first.status, second.method, second.status) == ("transfer", "failed", "refund", "paid")
    refund = stack.stub.client.v1.refunds.retrieve(second.provider_ref)
    assert (refund.charge, refund.amount, refund.metadata["attempt"]) == (charge.id, 10_000, "2")
    assert stack.stub.transfers(claim_id) == []


async def test_opening_flags_repeat_customers_repeat_pros_and_near_cap_and_finds_duplicates(stack):
    specialist = stack.user(Role.specialist)
    ids = {"customer_id": f"cus_{uuid.uuid4().hex[:6]}", "pro_id": f"pro_{uuid.uuid4().hex[:6]}"}
    _, first = await open_(stack, specialist, **ids)
    _, again = await open_(stack, specialist, **ids)
    _, third_for_pro = await open_(stack, specialist, pro_id=ids["pro_id"])
    _, near = await open_(stack, specialist, type="work_not_done", amount_cents=225_000)
    _, below = await open_(stack, specialist, type="work_not_done", amount_cents=224_999)
    flags = {c: stack.claim(c).risk_flags for c in (first, again, third_for_pro, near, below)}
    assert flags == {
        first: [],
        again: ["repeat_customer"],
        third_for_pro: ["repeat_pro"],
        near: ["near_cap"],
        below: [],
    }
    project = stack.claim(first).project_id
    _, duplicate = await open_(stack, specialist, project_id=project)
    _, other_type = await open_(stack, specialist, project_id=project, type="work_not_done")
    assert stack.claim(duplicate).eligibility_issues == ["duplicate_claim"]
    assert stack.claim(other_type).eligibility_issues == []


async def test_new_details_void_the_decision_and_a_reassigned_claim_is_its_new_assignees(stack):
    first, second = stack.user(Role.specialist), stack.user(Role.specialist)
    lead, other_lead = stack.user(Role.lead), stack.user(Role.lead)
    handle, claim_id = await open_(stack, first)
    await to_review(stack, handle, first)
    await stack.act(handle, ClaimWorkflow.decide, first, approve(10_000))
    ref = await add_details(stack, handle, lead, PayoutDetails(method="transfer", account_id="acct_leadsOwn"))
    claim = stack.claim(claim_id)
    assert (claim.status, claim.payout_details_id, claim.payout_details_by) == (
        "specialist_review",
        ref.id,
        lead.user_id,
    )
    handover = Assignment(actor=lead, request=AssignRequest(assignee=second.user_id, reason="first is away"))
    await stack.act(handle, ClaimWorkflow.assign, handover)
    assert stack.claim(claim_id).assignee == second.user_id
    await rejected(stack.act(handle, ClaimWorkflow.decide, first, approve(10_000)), "not_assignee")
    await stack.act(handle, ClaimWorkflow.decide, second, approve(10_000))
    await rejected(stack.act(handle, ClaimWorkflow.review, lead, APPROVE), "conflict_of_interest")
    await stack.act(handle, ClaimWorkflow.review, other_lead, APPROVE)
    assert await stack.result(claim_id) == ClaimStatus.paid
    await keep_history(handle, "voided_and_reassigned")
    [transfer] = stack.stub.transfers(claim_id)
    assert transfer.destination == "acct_leadsOwn", "approved by someone other than who set it"
    assert [a.action for a in stack.rows(tables.AuditEntry, claim_id)].count("reassigned") == 1
