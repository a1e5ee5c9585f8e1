"""Names the parts agree on: the task queue, workflow ids, and the payout idempotency key.

Plain strings, so anything can use them without importing a workflow.
"""

TASK_QUEUE = "guarantee-claims"
RECONCILIATION_SCHEDULE_ID = "reconciliation-daily"
RECONCILIATION_PREFIX = "reconciliation-"
DIGEST_SCHEDULE_ID = "digest-weekly"
# The kind of the notice finance and admin get when a claim's step could not be recorded: written by
# `mark_stuck`, not by an event of the claim, so no audit row records it.
STUCK_NOTICE = "claim_stuck"


def claim_workflow_id(claim_id: str) -> str:
    return f"claim-{claim_id}"


def claim_id_of(workflow_id: str) -> str:
    return workflow_id.removeprefix("claim-")


def payout_key(claim_id: str, attempt: int) -> str:
    """The idempotency key of one payout attempt: the ledger row, the provider call and reconciliation share it."""
    return f"claim-{claim_id}-payout-{attempt}"
