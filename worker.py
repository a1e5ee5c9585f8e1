"""The worker: ClaimWorkflow, ReconciliationWorkflow and their activities on `guarantee-claims`."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.orm import sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker

from activities.claims import ClaimActivities
from activities.payouts import PayoutActivities
from activities.reconciliation import ReconciliationActivities
from payments.stripe_provider import StripeProvider
from workflows.claim import TASK_QUEUE, ClaimWorkflow
from workflows.reconciliation import ReconciliationWorkflow


def build_worker(
    client: Client, sessions: sessionmaker, provider: StripeProvider, task_queue: str = TASK_QUEUE
) -> Worker:
    claims = ClaimActivities(sessions)
    payouts = PayoutActivities(sessions, provider)
    reconciliation = ReconciliationActivities(sessions, provider.client)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[ClaimWorkflow, ReconciliationWorkflow],
        activities=[
            claims.record_event,
            payouts.pay_claim,
            reconciliation.run_reconciliation,
            reconciliation.notify_finance,
        ],
        activity_executor=ThreadPoolExecutor(max_workers=16),
    )


def main() -> None:
    """Run a worker against the configured Temporal and database (no embedded stack)."""
    from stack.runtime import run_worker_only

    asyncio.run(run_worker_only())


if __name__ == "__main__":
    main()
