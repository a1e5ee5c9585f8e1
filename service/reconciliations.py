"""Reconciliations: started by hand or by the daily Schedule, and their stored reports read."""

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleSpec,
)
from temporalio.service import RPCError, RPCStatusCode

from activities.reconciliation import open_report
from finance import csv_stream, ledger_report
from rules.errors import DomainError
from rules.roles import permit
from schema import tables
from schema.claims import Actor
from schema.enums import Action
from schema.finance import (
    FindingDetail,
    FindingView,
    NumberedFinding,
    ReconcileRequest,
    ReconcileRun,
    ReconciliationCounts,
    ReconciliationView,
)
from schema.names import RECONCILIATION_PREFIX, RECONCILIATION_SCHEDULE_ID, TASK_QUEUE
from service.context import Context
from workflows.reconciliation import ReconciliationWorkflow

FINDING_COLUMNS = list(FindingView.model_fields)


async def start(ctx: Context, request: ReconcileRequest, actor: Actor) -> ReconciliationView:
    """Record the run, then start the same workflow the schedule starts; the report fills in as it runs."""
    permit(Action.read_finance, actor.role)
    if request.requested_by is not None:
        raise DomainError("invalid_request", "requested_by: set by the server")
    _check(request)
    run_id = f"{RECONCILIATION_PREFIX}{uuid.uuid4().hex[:12]}"
    request = request.model_copy(update={"requested_by": actor.user_id})
    run = ReconcileRun(id=run_id, date_from=request.date_from, date_to=request.date_to, requested_by=actor.user_id)
    await asyncio.to_thread(_open, ctx.sessions, run)
    try:
        await ctx.client.start_workflow(ReconciliationWorkflow.run, request, id=run_id, task_queue=ctx.task_queue)
    except BaseException as err:  # nothing will run it: it must not read as running for ever
        await asyncio.to_thread(_not_started, ctx.sessions, run_id, f"it could not be started: {err}")
        raise
    return await asyncio.to_thread(get, ctx.sessions, run_id, 0, 0)


def _not_started(sessions: sessionmaker, run_id: str, reason: str) -> None:
    with sessions.begin() as db:
        row = db.get(tables.Reconciliation, run_id)
        row.status, row.finished_at, row.failure = "failed", datetime.now(UTC), reason[:2000]


def _check(request: ReconcileRequest) -> None:
    """Checked again before anything is stored or started, however the request was built: a range
    the workflow cannot read (days out of bounds, reversed, too long) is refused here, not retried there."""
    try:
        ReconcileRequest.model_validate(request.model_dump(by_alias=True))
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}".removeprefix(": ") for e in err.errors())
        raise DomainError("invalid_request", problems.replace("Value error, ", "")) from None


def _open(sessions: sessionmaker, run: ReconcileRun) -> None:
    with sessions.begin() as db:
        open_report(db, run)


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
        failure=row.failure,
        findings=findings,
    )


def _findings(reconciliation_id: str):
    f = tables.ReconciliationFinding
    return select(f).where(f.reconciliation_id == reconciliation_id).order_by(f.id)


def get(sessions: sessionmaker, reconciliation_id: str, limit: int, offset: int) -> ReconciliationView:
    with sessions() as db:
        row = db.get(tables.Reconciliation, reconciliation_id)
        if row is None:
            raise DomainError("not_found", f"no reconciliation {reconciliation_id!r}")
        rows = db.scalars(_findings(reconciliation_id).limit(limit).offset(offset))
        return _view(row, [FindingView.model_validate(r, from_attributes=True) for r in rows])


def numbered(sessions: sessionmaker, reconciliation_id: str, limit: int) -> list[NumberedFinding]:
    """The report's first `limit` findings, each with its id."""
    with sessions() as db:
        rows = db.scalars(_findings(reconciliation_id).limit(limit))
        return [NumberedFinding.model_validate(r, from_attributes=True) for r in rows]


def finding(sessions: sessionmaker, reconciliation_id: str, finding_id: int) -> FindingDetail:
    """One finding, and our ledger's side of it in full: the payout stored under the finding's key."""
    with sessions() as db:
        row = db.get(tables.ReconciliationFinding, finding_id)
        if row is None or row.reconciliation_id != reconciliation_id:
            raise DomainError("not_found", f"reconciliation {reconciliation_id!r} has no finding {finding_id}")
        found = NumberedFinding.model_validate(row, from_attributes=True)
    ours = ledger_report.by_key(sessions, found.key) if found.key else None
    return FindingDetail(reconciliation_id=reconciliation_id, finding=found, ours=ours)


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


async def ensure_schedule(client: Client, cron: str, task_queue: str = TASK_QUEUE) -> bool:
    """Create the daily Schedule unless it exists (a person may have paused or changed it); True if created."""
    try:
        await client.get_schedule_handle(RECONCILIATION_SCHEDULE_ID).describe()
        return False
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            ReconciliationWorkflow.run, None, id=RECONCILIATION_SCHEDULE_ID, task_queue=task_queue
        ),
        spec=ScheduleSpec(cron_expressions=[cron]),
    )
    try:
        await client.create_schedule(RECONCILIATION_SCHEDULE_ID, schedule)
    except ScheduleAlreadyRunningError:
        return False
    return True
