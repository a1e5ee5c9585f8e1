"""Starting reconciliations by hand and reading their stored reports."""

import uuid
from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker
from temporalio.client import Client

from activities.reconciliation import open_report
from finance import csv_stream
from schema import tables
from schema.claims import Actor
from schema.finance import FindingView, ReconcileRequest, ReconcileRun, ReconciliationCounts, ReconciliationView
from workflows.reconciliation import ReconciliationWorkflow

FINDING_COLUMNS = list(FindingView.model_fields)


async def start(
    client: Client, sessions: sessionmaker, request: ReconcileRequest, actor: Actor, task_queue: str
) -> str:
    """Record the run, then start the same workflow the schedule starts; the report fills in as it runs."""
    run_id = f"reconciliation-{uuid.uuid4().hex[:12]}"
    request = request.model_copy(update={"requested_by": actor.user_id})
    run = ReconcileRun(id=run_id, date_from=request.date_from, date_to=request.date_to, requested_by=actor.user_id)
    with sessions.begin() as db:
        open_report(db, run)
    await client.start_workflow(ReconciliationWorkflow.run, request, id=run_id, task_queue=task_queue)
    return run_id


def _view(row: tables.Reconciliation, findings: list[FindingView]) -> ReconciliationView:
    counts = ReconciliationCounts.model_validate(row.counts or {})
    return ReconciliationView(
        id=row.id,
        date_from=row.date_from,
        date_to=row.date_to,
        status=row.status,
        requested_by=row.requested_by,
        started_at=row.started_at,
        finished_at=row.finished_at,
        counts=counts,
        discrepancies=counts.discrepancies,
        findings=findings,
    )


def _findings(reconciliation_id: str):
    f = tables.ReconciliationFinding
    return select(f).where(f.reconciliation_id == reconciliation_id).order_by(f.id)


def get(sessions: sessionmaker, reconciliation_id: str, limit: int, offset: int) -> ReconciliationView | None:
    with sessions() as db:
        row = db.get(tables.Reconciliation, reconciliation_id)
        if row is None:
            return None
        rows = db.scalars(_findings(reconciliation_id).limit(limit).offset(offset))
        return _view(row, [FindingView.model_validate(r, from_attributes=True) for r in rows])


def recent(sessions: sessionmaker, limit: int) -> list[ReconciliationView]:
    with sessions() as db:
        rows = db.scalars(select(tables.Reconciliation).order_by(tables.Reconciliation.started_at.desc()).limit(limit))
        return [_view(row, []) for row in rows]


def csv_chunks(sessions: sessionmaker, reconciliation_id: str) -> Iterator[str]:
    """Every discrepancy of the report as CSV, streamed."""
    with sessions() as db:
        rows = db.scalars(_findings(reconciliation_id).execution_options(yield_per=2_000))
        values = (["" if getattr(row, c) is None else getattr(row, c) for c in FINDING_COLUMNS] for row in rows)
        yield from csv_stream.csv_chunks(FINDING_COLUMNS, values)
