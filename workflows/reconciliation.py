"""ReconciliationWorkflow: one reconciliation, by hand or on the daily schedule (then for yesterday)."""

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.reconciliation import ReconciliationActivities
    from schema.finance import ReconcileRequest, ReconcileRun, ReconciliationCounts


@workflow.defn
class ReconciliationWorkflow:
    @workflow.run
    async def run(self, request: ReconcileRequest | None) -> ReconciliationCounts:
        if request is None:
            yesterday = (workflow.now() - timedelta(days=1)).date()
            request = ReconcileRequest(date_from=yesterday, date_to=yesterday)
        run = ReconcileRun(
            id=workflow.info().workflow_id,
            date_from=request.date_from,
            date_to=request.date_to,
            requested_by=request.requested_by,
        )
        counts = await workflow.execute_activity_method(
            ReconciliationActivities.run_reconciliation,
            run,
            start_to_close_timeout=timedelta(hours=2),
            heartbeat_timeout=timedelta(minutes=5),
        )
        if counts.discrepancies:
            await workflow.execute_activity_method(
                ReconciliationActivities.notify_finance,
                args=[run, counts],
                start_to_close_timeout=timedelta(seconds=30),
            )
        return counts
