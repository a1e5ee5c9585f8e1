"""The weekly digest: what it says (composed here, built by DigestWorkflow), its Schedule, and reading it back.

A digest covers one week, Monday to Sunday in UTC: its KPIs by claim type (`service.kpis`), and the
signals new that week: those that hold at the end of its Sunday but did not, for the same rule and
subject, at the end of the Sunday before (`service.signals`).
"""

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker
from temporalio.client import Client, Schedule, ScheduleActionStartWorkflow, ScheduleAlreadyRunningError, ScheduleSpec
from temporalio.service import RPCError, RPCStatusCode

from rules.errors import DomainError
from schema import tables
from schema.digests import DigestBody, DigestView
from schema.kpis import Breakdown
from schema.names import DIGEST_SCHEDULE_ID, TASK_QUEUE
from schema.policy import Policy
from schema.signals import SignalRules
from service import kpis, signals
from workflows.digest import DigestWorkflow


def compose(sessions: sessionmaker, policy: Policy, rules: SignalRules, week_start: date) -> DigestBody:
    week_end = week_start + timedelta(days=6)
    report = kpis.report(sessions, week_start, week_end, Breakdown.type)
    end = datetime.combine(week_end, time(23, 59, 59), tzinfo=UTC)
    at_end = signals.find(sessions, policy, rules, end)
    before = signals.find(sessions, policy, rules, end - timedelta(days=7))
    held = {(s.rule, s.subject) for s in before.signals}
    new = [s for s in at_end.signals if (s.rule, s.subject) not in held]
    return DigestBody(kpis=report, new_signals=new, signals_at=at_end.at, rules_version=rules.version)


def _view(row: tables.Digest, with_body: bool) -> DigestView:
    return DigestView(
        id=row.id,
        week_start=row.week_start,
        week_end=row.week_start + timedelta(days=6),
        built_at=row.built_at,
        recipients=row.recipients or [],
        mailed_to=row.mailed_to or [],
        mail_state=row.mail_state,
        mail_error=row.mail_error,
        body=DigestBody.model_validate(row.body) if with_body else None,
    )


def recent(sessions: sessionmaker, limit: int = 52) -> list[DigestView]:
    """The newest digests first, without their bodies."""
    with sessions() as db:
        rows = db.scalars(select(tables.Digest).order_by(tables.Digest.week_start.desc()).limit(limit))
        return [_view(row, False) for row in rows]


def get(sessions: sessionmaker, digest_id: str) -> DigestView:
    with sessions() as db:
        row = db.get(tables.Digest, digest_id)
        if row is None:
            raise DomainError("not_found", f"no digest {digest_id!r}")
        return _view(row, True)


async def ensure_schedule(client: Client, cron: str, task_queue: str = TASK_QUEUE) -> bool:
    """Create the weekly Schedule unless it exists (a person may have paused or changed it); True if created."""
    try:
        await client.get_schedule_handle(DIGEST_SCHEDULE_ID).describe()
        return False
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(DigestWorkflow.run, None, id=DIGEST_SCHEDULE_ID, task_queue=task_queue),
        spec=ScheduleSpec(cron_expressions=[cron]),
    )
    try:
        await client.create_schedule(DIGEST_SCHEDULE_ID, schedule)
    except ScheduleAlreadyRunningError:
        return False
    return True
