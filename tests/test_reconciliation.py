"""Reconciliation against the stub provider: each planted discrepancy found, and nothing else."""

import csv
import io
import itertools
import uuid
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import select
from temporalio.client import WorkflowFailureError

from activities.claims import ClaimActivities
from schema import tables
from schema.enums import Role
from schema.finance import ReconcileRequest
from tests.conftest import AUDIT_KEY
from tests.test_api import assert_error, auth
from tests.test_claim_workflow import keep_history
from tests.test_records import opened_event
from workflows.reconciliation import ReconciliationWorkflow

# Each planting gets a day of its own, days apart: the stub outlives each test and each database.
DAYS = (date(2031, 1, 1) + timedelta(days=5 * n) for n in itertools.count())


class Books:
    """Plants payouts in the ledger and objects at the stub, each for a claim of its own."""

    def claim(self) -> str:
        opened = opened_event(self.stack)
        ClaimActivities(self.stack.sessions, AUDIT_KEY).record_event(opened)
        return opened.claim_id

    def __init__(self, stack, day: date):
        self.stack, self.stub = stack, stack.stub
        self.noon = datetime.combine(day, time(12), tzinfo=UTC)

    def ledger(self, claim_id, amount, *, ref=None, status="paid", currency="USD", at=None, attempt=1):
        with self.stack.sessions.begin() as db:
            db.add(
                tables.Payout(
                    claim_id=claim_id,
                    attempt=attempt,
                    idempotency_key=f"claim-{claim_id}-payout-{attempt}",
                    amount_cents=amount,
                    currency=currency,
                    status=status,
                    method="transfer",
                    provider="stripe",
                    provider_ref=ref,
                    created_at=at or self.noon,
                )
            )

    def transfer(self, claim_id, amount, *, at=None, attempt=1):
        self.stub.control.clock(frozen_at=int((at or self.noon).timestamp()))
        return self.stub.client.v1.transfers.create(
            params={
                "amount": amount,
                "currency": "usd",
                "destination": f"acct_{claim_id}",
                "metadata": {"claim_id": claim_id, "attempt": str(attempt)},
            }
        )


@pytest.fixture
def planted(stack):
    """One line of every kind on a day, plus lines at its edges that belong to it or not."""
    day = next(DAYS)
    books = Books(stack, day)
    kinds = {}
    try:
        c = books.claim()
        books.ledger(c, 1_000, ref=books.transfer(c, 1_000).id)
        kinds[c] = "matched"
        c = books.claim()
        late = datetime.combine(day, time(23, 59, 59), tzinfo=UTC)
        books.ledger(c, 700, ref=books.transfer(c, 700, at=late + timedelta(seconds=2)).id, at=late)
        kinds[c] = "matched"  # written before midnight, stamped after: still the same payout
        c = books.claim()
        books.ledger(c, 2_000, ref="tr_never_made")
        kinds[c] = "missing_at_provider"
        c = books.claim()
        books.transfer(c, 3_000)
        kinds[c] = "missing_in_ledger"
        c = books.claim()
        books.ledger(c, 1_000, ref=books.transfer(c, 900).id)
        kinds[c] = "amount_mismatch"
        c = books.claim()
        books.ledger(c, 1_000, ref=books.transfer(c, 1_000).id, currency="EUR")
        kinds[c] = "currency_mismatch"
        c = books.claim()
        reversed_ = books.transfer(c, 1_500)
        stack.stub.client.v1.transfers.reversals.create(reversed_.id)
        books.ledger(c, 1_500, ref=reversed_.id)
        kinds[c] = "status_mismatch"
        c = books.claim()
        first = books.transfer(c, 1_200)
        books.transfer(c, 1_200)
        books.ledger(c, 1_200, ref=first.id)
        kinds[c] = "duplicate"
        c = books.claim()
        books.ledger(c, 800, status="failed")
        kinds[c] = "no_money_moved"
        c = books.claim()
        books.transfer(c, 999, at=books.noon - timedelta(days=1))
        kinds[c] = None  # the day before: another report's business
    finally:
        stack.stub.control.clock(unfreeze=True)
    return day, kinds


def expected(kinds: dict) -> dict:
    counts = {}
    for kind in kinds.values():
        if kind:
            counts[kind] = counts.get(kind, 0) + 1
    counts["matched"] += 1  # the duplicate's first transfer is the ledger's own
    return counts


async def test_every_planted_discrepancy_is_found_and_nothing_else(stack, planted):
    day, planted = planted
    handle = await stack.client.start_workflow(
        ReconciliationWorkflow.run,
        ReconcileRequest(date_from=day, date_to=day),
        id=f"reconciliation-{uuid.uuid4().hex[:8]}",
        task_queue=stack.queue,
    )
    counts = await handle.result()
    await keep_history(handle, "reconciliation")
    assert {k: v for k, v in counts.model_dump().items() if v} == expected(planted)
    with stack.sessions() as db:
        report = db.get(tables.Reconciliation, handle.id)
        findings = db.scalars(
            select(tables.ReconciliationFinding).where(tables.ReconciliationFinding.reconciliation_id == handle.id)
        ).all()
        [note] = db.scalars(select(tables.Notification).where(tables.Notification.reconciliation_id == handle.id)).all()
    assert report.status == "done" and report.finished_at is not None
    assert sorted((f.claim_id, f.kind) for f in findings) == sorted(
        (c, k) for c, k in planted.items() if k not in (None, "matched", "no_money_moved")
    )
    assert (note.recipient, note.kind) == ("tier:finance", "reconciliation_discrepancies")


async def test_finance_runs_and_reads_a_reconciliation_through_the_api(api, stack, planted):
    day, _ = planted
    _, finance = stack.user_with_token(Role.finance)
    r = await api.post("/reconciliations", json={"from": str(day), "to": str(day)}, headers=auth(finance))
    assert r.status_code == 202, r.text
    run_id = r.json()["id"]
    assert r.json()["status"] == "running"
    await stack.client.get_workflow_handle(run_id).result()
    r = await api.get(f"/reconciliations/{run_id}", headers=auth(finance))
    report = r.json()
    assert report["status"] == "done" and report["discrepancies"] == 6
    assert {f["kind"] for f in report["findings"]} == {
        "missing_at_provider",
        "missing_in_ledger",
        "amount_mismatch",
        "currency_mismatch",
        "status_mismatch",
        "duplicate",
    }
    r = await api.get(f"/reconciliations/{run_id}", headers=auth(finance) | {"Accept": "text/csv"})
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert sorted(row["kind"] for row in rows) == sorted(f["kind"] for f in report["findings"])
    listed = await api.get("/reconciliations", headers=auth(finance))
    assert run_id in [item["id"] for item in listed.json()]


async def test_only_finance_and_admin_reconcile(api, stack):
    body = {"from": "2031-03-10", "to": "2031-03-10"}
    for role in (Role.specialist, Role.lead, Role.manager, Role.director):
        _, token = stack.user_with_token(role)
        assert_error(await api.post("/reconciliations", json=body, headers=auth(token)), 403, "forbidden")
        assert_error(await api.get("/reconciliations", headers=auth(token)), 403, "forbidden")
    _, finance = stack.user_with_token(Role.finance)
    assert_error(await api.get("/reconciliations/nope", headers=auth(finance)), 404, "not_found")


@pytest.mark.parametrize(
    "body",
    [
        {"from": "2031-03-11", "to": "2031-03-10"},
        {"from": "2030-01-01", "to": "2031-03-10"},
        {"from": "yesterday", "to": "2031-03-10"},
        {"from": "2031-03-10"},
        {"from": "2031-03-10", "to": "2031-03-10", "requested_by": "u_someone"},
    ],
)
async def test_a_bad_range_is_422_and_starts_nothing(api, stack, body):
    _, finance = stack.user_with_token(Role.finance)
    before = len((await api.get("/reconciliations", headers=auth(finance), params={"limit": 500})).json())
    assert_error(await api.post("/reconciliations", json=body, headers=auth(finance)), 422)
    after = len((await api.get("/reconciliations", headers=auth(finance), params={"limit": 500})).json())
    assert after == before


async def test_a_reconciliation_that_cannot_finish_fails_with_its_reason_and_finance_is_told(stack):
    """The provider answers 500 to every read, three times over: the run ends failed, never running for ever.

    (Days it could never read are refused before a run starts: tests/test_inputs.py.)"""
    run_id = f"reconciliation-{uuid.uuid4().hex[:8]}"
    request_ = ReconcileRequest(date_from=date(2026, 1, 5), date_to=date(2026, 1, 5))
    stack.stub.control.faults(error_rate=1.0, methods=["GET"])
    try:
        handle = await stack.client.start_workflow(
            ReconciliationWorkflow.run, request_, id=run_id, task_queue=stack.queue
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
    finally:
        stack.stub.control.clear_faults()
    assert failed.value.cause.type == "reconciliation_failed"
    with stack.sessions() as db:
        report = db.get(tables.Reconciliation, run_id)
        [note] = db.scalars(select(tables.Notification).where(tables.Notification.reconciliation_id == run_id)).all()
    assert (report.status, report.finished_at is not None) == ("failed", True)
    assert report.failure and report.failure in failed.value.cause.message
    assert (note.recipient, note.kind) == ("tier:finance", "reconciliation_failed")
