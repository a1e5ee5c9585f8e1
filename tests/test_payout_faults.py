"""The payout drill, short, on SQLite and on PostgreSQL: claims paid by transfer and by refund while
the worker is SIGKILLed (once on purpose inside a provider call), Temporal is SIGKILLed and started
again, and the provider fails a share of requests and cuts off numbered payouts after the money
moved. The full drill is `./run drill` (200 claims). A third run has a PostgreSQL cluster of its
own, shut down fast and started again mid-run, Temporal killed twice and 30% provider faults.

Every count asserted is observed, not configured: the stub's own counters and the drill's kills."""

import asyncio
from datetime import UTC, datetime

import pytest

from activities.claims import ClaimActivities
from drills import private_postgres
from drills.payout_faults import Report, database_failures, run, verify
from schema import tables
from schema.claims import PayoutDetails
from tests.conftest import AUDIT_KEY
from tests.test_records import opened_event

CLAIMS = 16  # two runs (SQLite, PostgreSQL) in about three minutes on a quiet machine


@pytest.mark.timeout(330)
async def test_every_approved_claim_is_paid_exactly_once_through_faults(db_url, tmp_path):
    async with asyncio.timeout(300):  # first: a cancelled drill still stops the processes it started
        report = await run(CLAIMS, kill_every=(5.0, 10.0), work=tmp_path, database_url=db_url)
    print("\n".join(report.lines()))
    assert report.ok, "every claim paid exactly once, and the ledger equal to the provider to the cent"
    assert report.paid_without_provider_object == []
    assert report.transfers_paid >= 1 and report.refunds_paid >= 1
    assert report.drops_after_money_moved >= 1, "the stub must have cut a payout off after the money moved"
    assert report.kills_during_payout >= 1, "a worker SIGKILL must have hit a payout inside the provider call"
    assert report.worker_kills >= 2 and report.server_restarts == 1, "the drill must have done its damage"


@pytest.mark.timeout(330)
async def test_paid_exactly_once_through_a_postgres_restart_and_two_temporal_kills(tmp_path):
    """About 70 s on a quiet machine: its own cluster (initdb), restarted while claims are approved and paid.

    The budget is for the tail, not the usual run: a payout's retries back off to minutes apart, so a claim
    whose attempts met the outage, a kill and a few faults in a row waits a minute or two for its next try
    (four runs in thirteen here outlasted 120 s; the one let run to the end took 182 s)."""
    if reason := private_postgres.unavailable():
        pytest.skip(reason)
    async with asyncio.timeout(300):
        report = await run(
            12, kill_every=(5.0, 10.0), work=tmp_path, private_postgres=True, temporal_kills=2, fault_rate=0.30
        )
    print("\n".join(report.lines()))
    assert report.ok, "every claim paid exactly once, none left stuck, the ledger equal to the provider"
    assert (report.server_restarts, report.postgres_restarts) == (2, 1)
    assert all(report.unpaid_at_disruptions), "each Temporal kill and the restart must find claims still unpaid"
    assert report.activity_database_failures >= 1, "activities must have met the database down, and got through"
    assert report.exercised


def test_activity_attempts_failed_on_the_database_are_counted_from_the_worker_log(tmp_path):
    """Only the worker's failed attempts whose error is the database's connection: not a refused row, not a payout."""
    log = tmp_path / "worker.log"
    failed = '{"message": "Completing activity as failed (%s)", "exception": "Traceback ...\\n%s: (psycopg.%s) ..."}\n'
    log.write_text(
        failed % ("record_event", "sqlalchemy.exc.OperationalError", "OperationalError")
        + failed % ("pay_claim", "sqlalchemy.exc.InterfaceError", "InterfaceError")
        + failed % ("record_event", "sqlalchemy.exc.IntegrityError", "IntegrityError")
        + failed % ("pay_claim", "stripe.APIError", "x")
        + "sqlalchemy.exc.OperationalError: a worker that could not start\n"
    )
    assert database_failures(log) == 2


def test_a_paid_row_naming_no_provider_object_is_a_failure_of_its_own(stack):
    """The drill's final check, on planted rows: one refund as it should be, one `paid` row naming nothing."""
    stub = stack.stub
    stub.control.clear_faults()
    real, ghost = opened_event(stack), opened_event(stack)
    for event in (real, ghost):
        ClaimActivities(stack.sessions, AUDIT_KEY).record_event(event)
    amount = real.opened.request.amount_cents
    charge = stub.control.seed(charges=[{"amount": amount, "currency": "usd"}])["charges"][0]["id"]
    refund = stub.client.v1.refunds.create(
        params={"charge": charge, "amount": amount, "metadata": {"claim_id": real.claim_id}}
    )
    with stack.sessions.begin() as db:
        for event, ref in ((real, refund.id), (ghost, "re_1NeverMade")):
            db.add(
                tables.Payout(
                    claim_id=event.claim_id,
                    attempt=1,
                    idempotency_key=f"claim-{event.claim_id}-payout-1",
                    amount_cents=amount,
                    currency="USD",
                    method="refund",
                    status="paid",
                    provider="stripe",
                    provider_ref=ref,
                    created_at=datetime.now(UTC),
                )
            )
    both = (real.claim_id, ghost.claim_id)
    details = PayoutDetails(method="refund", charge_id=charge)
    report = Report(claims=2)
    verify(stack.sessions, stub.url, dict.fromkeys(both, details), dict.fromkeys(both, amount), report)
    assert report.paid_without_provider_object == [f"{ghost.claim_id}:re_1NeverMade"]
    assert (report.refunds_paid, report.transfers_paid, report.mismatched, report.unknown_at_provider) == (1, 0, [], [])
    assert not report.ok
