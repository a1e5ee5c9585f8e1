"""Opening a claim: eligibility and risk flags from the database, then the claim's workflow."""

import uuid
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import WorkflowAlreadyStartedError

from schema import search_attributes as sa
from schema import tables
from schema.claims import Actor, ClaimOpen, ClaimStart
from schema.enums import ClaimStatus
from schema.policy import Policy
from workflows.claim import TASK_QUEUE, ClaimWorkflow, workflow_id


class OpenRejected(ValueError):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def check_request(req: ClaimOpen, policy: Policy, today: date) -> None:
    if req.currency not in policy.currencies:
        raise OpenRejected(
            "unsupported_currency", f"claims are paid in {', '.join(policy.currencies)}, not {req.currency}"
        )
    if req.amount_cents > policy.max_claim_amount_cents:
        raise OpenRejected("amount_too_large", "the amount claimed is above any amount this programme handles")
    if req.incident_date > today:
        raise OpenRejected("incident_in_future", "the incident date is in the future")


def assess(sessions: sessionmaker, req: ClaimOpen, policy: Policy, today: date) -> tuple[list[str], list[str]]:
    """Eligibility issues (block an approval) and risk flags (only inform) for a new claim."""
    issues, flags = [], []
    window = policy.claim_types[req.type].filing_window_days
    if (today - req.incident_date).days > window:
        issues.append("outside_filing_window")
    since = datetime.now(UTC) - timedelta(days=policy.risk.repeat_customer_days)
    with sessions() as db:
        if db.scalar(
            select(func.count()).where(
                tables.Claim.project_id == req.project_id, tables.Claim.status == ClaimStatus.paid
            )
        ):
            issues.append("project_already_paid")
        if db.scalar(
            select(func.count()).where(tables.Claim.customer_id == req.customer_id, tables.Claim.opened_at >= since)
        ):
            flags.append("repeat_customer")
        if db.scalar(select(func.count()).where(tables.Claim.pro_id == req.pro_id)) >= policy.risk.pro_claims_threshold:
            flags.append("repeat_pro")
    if req.amount_cents * 100 >= policy.cap(req.type) * policy.risk.near_cap_percent:
        flags.append("near_cap")
    return issues, flags


async def open_claim(
    client: Client,
    sessions: sessionmaker,
    actor: Actor,
    req: ClaimOpen,
    policy: Policy,
    task_queue: str = TASK_QUEUE,
    claim_id: str | None = None,
) -> WorkflowHandle:
    """Start the claim's workflow and return its handle once the claim is in the database.

    With a `claim_id` chosen by the caller, opening again after a lost answer opens nothing new.
    """
    now = datetime.now(UTC)
    check_request(req, policy, now.date())
    issues, flags = assess(sessions, req, policy, now.date())
    claim_id = claim_id or uuid.uuid4().hex[:12]
    start = ClaimStart(
        claim_id=claim_id,
        request=req,
        opened_by=actor,
        opened_at=now,
        policy=policy,
        risk_flags=flags,
        eligibility_issues=issues,
    )
    try:
        handle = await client.start_workflow(
            ClaimWorkflow.run,
            start,
            id=workflow_id(claim_id),
            task_queue=task_queue,
            search_attributes=sa.initial(ClaimStatus.evidence_collection, req.amount_cents, actor.user_id),
        )
    except WorkflowAlreadyStartedError:
        handle = client.get_workflow_handle(workflow_id(claim_id))
    await handle.execute_update(ClaimWorkflow.wait_opened)
    return handle
