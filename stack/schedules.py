"""The daily reconciliation Schedule, created at start-up where it is missing."""

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleSpec,
)
from temporalio.service import RPCError, RPCStatusCode

from workflows.claim import TASK_QUEUE
from workflows.reconciliation import SCHEDULE_ID, ReconciliationWorkflow


async def ensure_reconciliation_schedule(client: Client, cron: str, task_queue: str = TASK_QUEUE) -> bool:
    """Create the schedule unless it exists (a person may have paused or changed it); True if created."""
    try:
        await client.get_schedule_handle(SCHEDULE_ID).describe()
        return False
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(ReconciliationWorkflow.run, None, id=SCHEDULE_ID, task_queue=task_queue),
        spec=ScheduleSpec(cron_expressions=[cron]),
    )
    try:
        await client.create_schedule(SCHEDULE_ID, schedule)
    except ScheduleAlreadyRunningError:
        return False
    return True
