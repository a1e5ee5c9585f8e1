"""DigestWorkflow: the weekly digest, started by the Monday Schedule (then for the week before) or by hand."""

from datetime import date, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.digest import MAIL_ATTEMPTS, DigestActivities
    from schema.digests import DigestBuilt


BUILD_RETRY = RetryPolicy(initial_interval=timedelta(seconds=10), maximum_attempts=3)
MAIL_RETRY = RetryPolicy(initial_interval=timedelta(seconds=30), backoff_coefficient=2, maximum_attempts=MAIL_ATTEMPTS)


def last_week(today: date) -> date:
    """The Monday of the week (Monday to Sunday, UTC) before the one `today` is in."""
    return today - timedelta(days=today.weekday() + 7)


@workflow.defn
class DigestWorkflow:
    @workflow.run
    async def run(self, week_start: date | None) -> DigestBuilt:
        if week_start is None:
            week_start = last_week(workflow.now().date())
        built = await workflow.execute_activity_method(
            DigestActivities.build_digest,
            week_start,
            start_to_close_timeout=timedelta(minutes=10),
            retry_policy=BUILD_RETRY,
        )
        try:
            await workflow.execute_activity_method(
                DigestActivities.mail_digest,
                built.id,
                start_to_close_timeout=timedelta(minutes=1),
                retry_policy=MAIL_RETRY,
            )
        except ActivityError:
            pass  # the digest is kept all the same; its row says the mail failed, and why
        return built
