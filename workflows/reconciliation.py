"""ReconciliationWorkflow: one reconciliation, by hand or on the daily schedule (then for yesterday)."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.reconciliation import ReconciliationActivities
    from schema.finance import ReconcileRequest, ReconcileRun, ReconciliationCounts


# A run that fails three times (the provider or the database away for long) fails for good, with its reason.
RETRY = RetryPolicy(initial_interval=timedelta(seconds=10), maximum_attempts=3)


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
        try:
            counts = await workflow.execute_activity_method(
                ReconciliationActivities.run_reconciliation,
                run,
                start_to_close_timeout=timedelta(hours=2),
                heartbeat_timeout=timedelta(minutes=5),
                retry_policy=RETRY,
            )
        except ActivityError as err:
            reason = getattr(err.cause, "message", None) or str(err.cause or err)
            await workflow.execute_activity_method(
                ReconciliationActivities.fail_report, args=[run, reason], start_to_close_timeout=timedelta(seconds=30)
            )
            raise ApplicationError(f"reconciliation failed: {reason}", type="reconciliation_failed") from None
        if counts.discrepancies:
            await workflow.execute_activity_method(
                ReconciliationActivities.notify_finance,
                args=[run, counts],
                start_to_close_timeout=timedelta(seconds=30),
            )
        return counts
