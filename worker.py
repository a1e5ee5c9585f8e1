"""The claim worker: runs ClaimWorkflow and its activities on the `guarantee-claims` task queue."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.orm import sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker

from activities.claims import ClaimActivities
from activities.payouts import PayoutActivities
from payments.provider import PaymentProvider
from workflows.claim import TASK_QUEUE, ClaimWorkflow


def build_worker(
    client: Client, sessions: sessionmaker, provider: PaymentProvider, task_queue: str = TASK_QUEUE
) -> Worker:
    claims = ClaimActivities(sessions)
    payouts = PayoutActivities(sessions, provider)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[ClaimWorkflow],
        activities=[claims.record_event, payouts.pay_claim],
        activity_executor=ThreadPoolExecutor(max_workers=16),
    )


def main() -> None:
    """Run a worker against the configured Temporal and database (no embedded stack)."""
    from stack.runtime import run_worker_only

    asyncio.run(run_worker_only())


if __name__ == "__main__":
    main()
