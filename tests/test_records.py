"""The database side on its own: activities are safe to run twice, the audit trail only grows."""

import uuid
from datetime import UTC, date, datetime

import pytest
import stripe
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError
from temporalio.exceptions import ApplicationError

from activities.claims import ClaimActivities
from activities.payouts import PayoutActivities
from audit.chain import Sealer, walk
from schema import tables
from schema.claims import Actor, ClaimOpen, ClaimStart, EvidenceAdd, PayoutDetails
from schema.enums import ClaimStatus, Role
from schema.events import ClaimEvent, PayoutOrder
from schema.policy import load_policy
from service import payout_details
from tests.conftest import AUDIT_KEY

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)


def opened_event(stack) -> ClaimEvent:
    opener = stack.user(Role.specialist)
    claim_id = uuid.uuid4().hex[:12]
    request = ClaimOpen(
        customer_id="cus_r",
        pro_id="pro_r",
        project_id=f"prj_{claim_id}",
        type="work_not_done",
        amount_cents=12_345,
        currency="USD",
        incident_date=date(2026, 10, 30),
        channel="email",
        description="the pro never came",
    )
    start = ClaimStart(claim_id=claim_id, request=request, opened_by=opener, opened_at=NOW, policy=load_policy("v1"))
    return ClaimEvent(
        key=f"{claim_id}:00001",
        claim_id=claim_id,
        at=NOW,
        action="opened",
        actor=opener,
        to_status=ClaimStatus.evidence_collection,
        opened=start,
    )


def evidence_event(opened: ClaimEvent, seq: int) -> ClaimEvent:
    return ClaimEvent(
        key=f"{opened.claim_id}:{seq:05d}",
        claim_id=opened.claim_id,
        at=NOW,
        action="evidence_added",
        actor=opened.actor,
        evidence=EvidenceAdd(kind="note", source="customer", note="called twice"),
    )


def test_recording_an_event_twice_changes_nothing(stack):
    activities = ClaimActivities(stack.sessions, AUDIT_KEY)
    opened = opened_event(stack)
    evidence = evidence_event(opened, 2)
    for event in (opened, evidence, opened, evidence):
        activities.record_event(event)
    assert [a.action for a in stack.rows(tables.AuditEntry, opened.claim_id)] == ["opened", "evidence_added"]
    assert len(stack.rows(tables.Evidence, opened.claim_id)) == 1
    assert stack.claim(opened.claim_id).policy_version == "v1"


def test_events_recorded_together_are_all_written_or_none(stack):
    """`record_events` writes a claim's events in one transaction: each sealed onto the chain after the one before,
    a second delivery changes nothing, and one refused event leaves out the others too."""
    activities = ClaimActivities(stack.sessions, AUDIT_KEY)
    opened = opened_event(stack)
    evidence = evidence_event(opened, 2)
    activities.record_events([opened, evidence])
    activities.record_events([opened, evidence])
    assert [(a.action, a.chain_seq) for a in stack.rows(tables.AuditEntry, opened.claim_id)] == [
        ("opened", 1),
        ("evidence_added", 2),
    ]
    more, stranger = evidence_event(opened, 3), evidence_event(opened, 4)
    stranger.actor = Actor(user_id="nobody", name="nobody", role=Role.specialist)
    with pytest.raises(ApplicationError, match="there is no user nobody"):
        activities.record_events([more, stranger])
    assert len(stack.rows(tables.AuditEntry, opened.claim_id)) == 2
    assert len(stack.rows(tables.Evidence, opened.claim_id)) == 1
    with stack.sessions() as db:
        checked = walk(db, Sealer(AUDIT_KEY), [opened.claim_id])
    assert (checked.rows, checked.linked, checked.problems) == (2, 2, [])


def order_for(stack, opened: ClaimEvent, amount_cents: int) -> PayoutOrder:
    ClaimActivities(stack.sessions, AUDIT_KEY).record_event(opened)
    details = PayoutDetails(method="transfer", account_id="acct_records")
    ref = payout_details.store(stack.sessions, opened.claim_id, details, opened.actor)
    return PayoutOrder(
        claim_id=opened.claim_id, attempt=1, payout_details_id=ref.id, amount_cents=amount_cents, currency="USD", at=NOW
    )


def test_paying_twice_pays_once(stack, provider):
    opened = opened_event(stack)
    order = order_for(stack, opened, 12_345)
    payouts = PayoutActivities(stack.sessions, provider)
    first, second = payouts.pay_claim(order), payouts.pay_claim(order)
    assert first == second and first.paid
    [row] = stack.rows(tables.Payout, opened.claim_id)
    assert (row.status, row.provider_ref, row.amount_cents) == ("paid", first.provider_ref, 12_345)
    [transfer] = stack.stub.transfers(opened.claim_id)
    assert (transfer.id, transfer.amount, transfer.destination) == (first.provider_ref, 12_345, "acct_records")


def test_a_payout_without_payout_details_fails_without_calling_the_provider(stack, provider):
    """Claims opened before payout details existed were approved without them: the ledger says why nothing went out."""
    opened = opened_event(stack)
    ClaimActivities(stack.sessions, AUDIT_KEY).record_event(opened)
    order = PayoutOrder(
        claim_id=opened.claim_id, attempt=1, payout_details_id=None, amount_cents=700, currency="USD", at=NOW
    )
    outcome = PayoutActivities(stack.sessions, provider).pay_claim(order)
    assert (outcome.paid, outcome.failure_code) == (False, "missing_payout_details")
    [row] = stack.rows(tables.Payout, opened.claim_id)
    assert (row.status, row.failure_code, row.payout_details_id, row.provider_ref) == (
        "failed",
        "missing_payout_details",
        None,
        None,
    )
    assert stack.stub.transfers(opened.claim_id) == []


def test_a_payout_the_provider_made_but_never_confirmed_completes_on_retry(stack, provider):
    """The money moved but the answer was lost (a timeout, a killed worker): the retry, with the
    same idempotency key, gets Stripe's stored answer and completes the pending ledger row."""
    opened = opened_event(stack)
    order = order_for(stack, opened, 500)
    stack.stub.control.faults(timeout_after_create=1, timeout_mode="drop")
    payouts = PayoutActivities(stack.sessions, provider)
    try:
        with pytest.raises(stripe.APIConnectionError):
            payouts.pay_claim(order)
    finally:
        stack.stub.control.clear_faults()
    [row] = stack.rows(tables.Payout, opened.claim_id)
    assert row.status == "pending" and row.provider_ref is None
    outcome = payouts.pay_claim(order)
    [row] = stack.rows(tables.Payout, opened.claim_id)
    [transfer] = stack.stub.transfers(opened.claim_id)
    assert outcome.paid and (row.status, row.provider_ref) == ("paid", transfer.id)


@pytest.mark.parametrize("statement", ["update", "delete"])
def test_the_audit_trail_is_append_only(stack, statement):
    opened = opened_event(stack)
    ClaimActivities(stack.sessions, AUDIT_KEY).record_event(opened)
    table = tables.AuditEntry
    change = (
        update(table).where(table.claim_id == opened.claim_id).values(reason="rewritten")
        if statement == "update"
        else delete(table).where(table.claim_id == opened.claim_id)
    )
    with pytest.raises(DBAPIError, match="append-only"):
        with stack.sessions.begin() as db:
            db.execute(change)
    with stack.sessions() as db:
        assert db.scalars(select(table.reason).where(table.claim_id == opened.claim_id)).all() == [None]
