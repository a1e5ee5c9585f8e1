"""Running a reconciliation and storing its report; telling finance when it found discrepancies."""

from collections import Counter
from datetime import UTC, datetime

import stripe
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from activities.errors import classified
from finance.matching import DISCREPANCIES, Finding, Kind
from finance.reconcile import reconcile
from schema import tables
from schema.finance import ReconcileRun, ReconciliationCounts

BATCH = 1_000
HEARTBEAT_EVERY = 10_000


class ReconciliationActivities:
    def __init__(self, sessions: sessionmaker, stripe_client: stripe.StripeClient):
        self._sessions = sessions
        self._stripe = stripe_client

    @activity.defn
    @classified
    def run_reconciliation(self, run: ReconcileRun) -> ReconciliationCounts:
        """Safe to run again: a finished report is returned as stored, an unfinished one is redone."""
        with self._sessions.begin() as db:
            row = open_report(db, run)
            if row.status == "done":
                return ReconciliationCounts.model_validate(row.counts)
            db.execute(
                delete(tables.ReconciliationFinding).where(tables.ReconciliationFinding.reconciliation_id == run.id)
            )
        counts: Counter = Counter()
        batch: list[dict] = []
        with (
            self._sessions() as reader,
            reconcile(reader.connection(), self._stripe, run.date_from, run.date_to, activity.heartbeat) as found,
        ):
            counts[Kind.matched.value] += found.plain
            for seen, finding in enumerate(found.findings):
                counts[finding.kind.value] += 1
                if finding.kind in DISCREPANCIES:
                    batch.append(finding_row(run.id, finding))
                    if len(batch) >= BATCH:
                        self._store(batch)
                if seen % HEARTBEAT_EVERY == 0:
                    activity.heartbeat(seen)
        self._store(batch)
        result = ReconciliationCounts(**counts)
        with self._sessions.begin() as db:
            row = db.get(tables.Reconciliation, run.id)
            row.status, row.finished_at, row.counts = "done", datetime.now(UTC), result.model_dump()
        return result

    @activity.defn
    @classified
    def notify_finance(self, run: ReconcileRun, counts: ReconciliationCounts) -> None:
        found = ", ".join(f"{n} {kind}" for kind, n in counts.model_dump().items() if n and kind in DISCREPANCIES)
        with self._sessions.begin() as db:
            _notify(
                db, run, "reconciliation_discrepancies", f"Reconciliation {run.date_from}..{run.date_to} found {found}."
            )

    @activity.defn
    @classified
    def fail_report(self, run: ReconcileRun, reason: str) -> None:
        """The run could not finish: its report says failed and why, and finance is told; it never stays running."""
        with self._sessions.begin() as db:
            row = open_report(db, run)
            if row.status != "done":
                row.status, row.finished_at, row.failure = "failed", datetime.now(UTC), reason[:2000]
            _notify(db, run, "reconciliation_failed", f"Reconciliation {run.date_from}..{run.date_to} failed: {reason}")

    def _store(self, batch: list[dict]) -> None:
        if batch:
            with self._sessions.begin() as db:
                db.execute(insert(tables.ReconciliationFinding), batch)
            batch.clear()


def _notify(db: Session, run: ReconcileRun, kind: str, message: str) -> None:
    """Once per run and kind, however often the activity runs."""
    key = f"{kind}:{run.id}"
    if db.scalar(select(tables.Notification.id).where(tables.Notification.event_key == key)) is None:
        db.add(
            tables.Notification(
                reconciliation_id=run.id,
                event_key=key,
                recipient="tier:finance",
                kind=kind,
                message=message[:2000],
                at=datetime.now(UTC),
            )
        )


def open_report(db: Session, run: ReconcileRun) -> tables.Reconciliation:
    """The run's report row, created as running if it is not there yet (a scheduled run has none)."""
    row = db.get(tables.Reconciliation, run.id)
    if row is None:
        row = tables.Reconciliation(
            id=run.id,
            date_from=run.date_from,
            date_to=run.date_to,
            status="running",
            requested_by=run.requested_by,
            started_at=datetime.now(UTC),
            counts={},
        )
        db.add(row)
    return row


def finding_row(run_id: str, finding: Finding) -> dict:
    ledger, provider = finding.ledger, finding.provider
    return {
        "reconciliation_id": run_id,
        "kind": finding.kind.value,
        "key": finding.key,
        "claim_id": finding.claim_id,
        "ledger_ref": ledger and ledger.provider_ref,
        "provider_ref": provider and provider.object_id,
        "ledger_amount_cents": ledger and ledger.amount_cents,
        "provider_amount_cents": provider and provider.amount_cents,
        "currency": (ledger or provider).currency,
        "detail": finding.detail,
    }
