"""The daily reconciliation Schedule on the real dev server: created once, and its runs reconcile yesterday."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from temporalio.testing import WorkflowEnvironment

from schema import tables
from schema.finance import ReconciliationCounts
from schema.names import RECONCILIATION_SCHEDULE_ID
from service.reconciliations import ensure_schedule
from stack import search_attributes as sa
from stack.temporal import DEV_SERVER
from tests.codec_key import CONVERTER
from tests.conftest import AUDIT_KEY, SIGNING_KEY
from worker import build_worker
from workflows.reconciliation import ReconciliationWorkflow


async def test_the_schedule_is_created_once_and_reconciles_yesterday(sessions, provider):
    queue = f"claims-{uuid.uuid4().hex[:8]}"
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(DEV_SERVER), data_converter=CONVERTER, search_attributes=sa.ALL
    )
    try:
        client = env.client
        assert await ensure_schedule(client, "0 2 * * *", task_queue=queue) is True
        assert await ensure_schedule(client, "0 2 * * *", task_queue=queue) is False
        handle = client.get_schedule_handle(RECONCILIATION_SCHEDULE_ID)
        next_run = (await handle.describe()).info.next_action_times[0].astimezone(UTC)
        assert (next_run.hour, next_run.minute) == (2, 0)
        async with build_worker(client, sessions, provider, SIGNING_KEY, task_queue=queue, audit_key=AUDIT_KEY):
            await handle.trigger()
            deadline = asyncio.get_running_loop().time() + 30
            while not (actions := (await handle.describe()).info.recent_actions):
                assert asyncio.get_running_loop().time() < deadline, "the triggered run never started"
                await asyncio.sleep(0.1)
            run_id = actions[0].action.workflow_id
            counts = await client.get_workflow_handle_for(ReconciliationWorkflow.run, run_id).result()
        assert isinstance(counts, ReconciliationCounts)
        with sessions() as db:
            report = db.get(tables.Reconciliation, run_id)
        yesterday = (datetime.now(UTC) - timedelta(days=1)).date()
        assert (report.status, report.date_from, report.date_to, report.requested_by) == (
            "done",
            yesterday,
            yesterday,
            None,
        )
    finally:
        await env.shutdown()
