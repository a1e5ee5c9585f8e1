"""Opening claims and acting on them, for every interface.

An action checks the role, reads the claim, sends one Update to the claim's workflow, and returns
the claim as it now stands: the Update answers only once its change is in the database. A refusal
is a `DomainError` with the rule's code; details stored for an action the claim refused are
removed again.
"""

import asyncio
import logging
import uuid
from datetime import UTC, datetime

from pydantic import BaseModel
from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.orm import sessionmaker
from temporalio.client import WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from rules.eligibility import PriorClaims, check_request, eligibility_issues
from rules.errors import DomainError
from rules.payouts import check_payout_method
from rules.risk import repeat_customer_since, risk_flags
from rules.roles import check_assignee, check_casework, permit
from rules.severity import propose
from schema import tables
from schema.claims import (
    Actor,
    ApprovalRequest,
    Assignment,
    AssignRequest,
    ClaimDetail,
    ClaimOpen,
    ClaimStart,
    ClaimSummary,
    Contacts,
    DecisionRequest,
    EvidenceAdd,
    HoldPlacement,
    HoldRelease,
    HoldReleaseRequest,
    HoldRequest,
    MediationAgreement,
    MediationOutcomeRequest,
    MediationRequest,
    MediationSettlement,
    PayoutDetails,
    PayoutRetry,
    ProStatementAsk,
    SeverityChange,
    SeverityRequest,
    WithdrawRequest,
)
from schema.enums import FINAL_STATUSES, Action, ClaimStatus, EvidenceSource, Role
from schema.names import claim_workflow_id
from service import contacts as claim_contacts
from service import metrics, offers, payout_details, queries, users
from service.context import Context
from service.evidence import StagedFile
from stack import search_attributes as sa
from stack.logs import about_claim
from workflows.claim import ClaimWorkflow
from workflows.signed_actions import sign

log = logging.getLogger(__name__)


async def get(ctx: Context, claim_id: str) -> ClaimDetail:
    claim = await asyncio.to_thread(queries.get_claim, ctx.sessions, claim_id)
    if claim is None:
        raise DomainError("not_found", f"no claim {claim_id!r}")
    return claim


async def _summary(ctx: Context, claim_id: str) -> ClaimSummary:
    """The claim's row alone, for the checks before an action."""
    claim = await asyncio.to_thread(queries.get_summary, ctx.sessions, claim_id)
    if claim is None:
        raise DomainError("not_found", f"no claim {claim_id!r}")
    return claim


async def open_claim(
    ctx: Context,
    actor: Actor,
    req: ClaimOpen,
    payout: PayoutDetails | None = None,
    claim_id: str | None = None,
    contacts: Contacts | None = None,
) -> ClaimDetail:
    """Start the claim's workflow; answers once the claim (and its payout details and contacts) is stored.

    With a `claim_id` chosen by the caller, opening again after a lost answer opens nothing new.
    Counted for /metrics as the action `open`, like every other action.
    """
    try:
        claim = await _open(ctx, actor, req, payout, claim_id, contacts)
    except DomainError as err:
        metrics.acted(Action.open.value, err.code)
        raise
    except Exception:
        metrics.acted(Action.open.value, "error")
        raise
    metrics.acted(Action.open.value, "ok")
    about_claim(claim.id)
    log.info("open: the claim is %s", claim.status.value, extra={"action": Action.open.value})
    return claim


async def _open(
    ctx: Context,
    actor: Actor,
    req: ClaimOpen,
    payout: PayoutDetails | None,
    claim_id: str | None,
    contacts: Contacts | None,
) -> ClaimDetail:
    permit(Action.open, actor.role)
    if payout:
        check_payout_method(req.type, payout.method)
    now = datetime.now(UTC)
    check_request(req, ctx.policy, now.date())
    prior = await asyncio.to_thread(_prior_claims, ctx.sessions, req, repeat_customer_since(ctx.policy, now))
    claim_id = claim_id or uuid.uuid4().hex[:12]
    ref = payout and await asyncio.to_thread(payout_details.store, ctx.sessions, None, payout, actor)
    start = ClaimStart(
        claim_id=claim_id,
        request=req,
        opened_by=actor,
        opened_at=now,
        policy=ctx.policy,
        risk_flags=risk_flags(req, ctx.policy, prior),
        eligibility_issues=eligibility_issues(req, ctx.policy, now.date(), prior),
        severity=propose(ctx.policy, req),
        payout=ref,
    )
    # One request starts the claim and waits for its Update: both reach the workflow in its first task.
    opening = WithStartWorkflowOperation(
        ClaimWorkflow.run,
        start,
        id=claim_workflow_id(claim_id),
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        task_queue=ctx.task_queue,
        search_attributes=sa.initial(ClaimStatus.evidence_collection, req.amount_cents, actor.user_id),
    )
    try:
        await ctx.client.execute_update_with_start_workflow(ClaimWorkflow.wait_opened, start_workflow_operation=opening)
    except WorkflowUpdateFailedError as err:
        raise DomainError("not_recorded", f"the claim could not be opened: {err.cause or err}") from None
    if contacts:
        await asyncio.to_thread(claim_contacts.store, ctx.sessions, claim_id, contacts, actor)
    claim = await get(ctx, claim_id)
    if ref and claim.payout_details_id != ref.id:  # opened already (the same claim_id again): it keeps its details
        await asyncio.to_thread(payout_details.discard_untaken, ctx.sessions, ref)
    return claim


_CLAIMS = tables.Claim.__table__.c  # the claims table's columns
# What the eligibility and risk rules weigh of the claims before this one, in one read built once (four ORM
# counts cost 2 ms of CPU an opening).
_PRIOR = select(
    func.count().filter(_CLAIMS.project_id == bindparam("project"), _CLAIMS.status == ClaimStatus.paid),
    func.count().filter(
        _CLAIMS.project_id == bindparam("project"),
        _CLAIMS.type == bindparam("type"),
        _CLAIMS.status.not_in(FINAL_STATUSES),
    ),
    func.count().filter(_CLAIMS.customer_id == bindparam("customer"), _CLAIMS.opened_at >= bindparam("since")),
    func.count().filter(_CLAIMS.pro_id == bindparam("pro")),
).where(
    or_(
        _CLAIMS.project_id == bindparam("project"),
        _CLAIMS.customer_id == bindparam("customer"),
        _CLAIMS.pro_id == bindparam("pro"),
    )
)


def _prior_claims(sessions: sessionmaker, req: ClaimOpen, since: datetime) -> PriorClaims:
    about = dict(project=req.project_id, type=req.type, customer=req.customer_id, pro=req.pro_id, since=since)
    with sessions() as db:
        paid, open_of_type, recent, against_pro = db.connection().execute(_PRIOR, about).one()
    return PriorClaims(
        paid_on_project=paid,
        open_on_project_of_type=open_of_type,
        by_customer_recently=recent,
        against_pro=against_pro,
    )


async def add_evidence(
    ctx: Context,
    claim_id: str,
    actor: Actor,
    evidence: EvidenceAdd,
    update_id: str | None = None,
    staged: StagedFile | None = None,
) -> ClaimDetail:
    """Add evidence; a `staged` upload (the file `evidence.file` names) joins the evidence store only
    once the claim accepted it, and is deleted if the claim refuses it.

    When the outcome is unknown (Temporal or the database failed half-way), the file is kept: an
    unused file costs disk, while evidence the claim accepted must never name a missing file.
    """
    try:
        claim = await _act(ctx, claim_id, Action.add_evidence, actor, ClaimWorkflow.add_evidence, [evidence], update_id)
    except DomainError:
        if staged:
            staged.discard()
        raise
    except BaseException:
        if staged:
            staged.keep()
        raise
    if staged:
        staged.keep()
    return claim


async def complete_evidence(ctx: Context, claim_id: str, actor: Actor, update_id: str | None = None) -> ClaimDetail:
    return await _act(ctx, claim_id, Action.complete_evidence, actor, ClaimWorkflow.complete_evidence, [], update_id)


async def decide(
    ctx: Context, claim_id: str, actor: Actor, decision: DecisionRequest, update_id: str | None = None
) -> ClaimDetail:
    return await _act(ctx, claim_id, Action.decide, actor, ClaimWorkflow.decide, [decision], update_id)


async def review(
    ctx: Context, claim_id: str, actor: Actor, approval: ApprovalRequest, update_id: str | None = None
) -> ClaimDetail:
    return await _act(ctx, claim_id, Action.review, actor, ClaimWorkflow.review, [approval], update_id)


async def set_severity(ctx: Context, claim_id: str, actor: Actor, request: SeverityRequest) -> ClaimDetail:
    """Whoever works the claim changes its severity, with a reason (claims under a policy with severity rules)."""
    change = SeverityChange(actor=actor, request=request)
    return await _act(ctx, claim_id, Action.set_severity, actor, ClaimWorkflow.set_severity, change)


async def hold(ctx: Context, claim_id: str, actor: Actor, request: HoldRequest) -> ClaimDetail:
    """A legal hold, by whoever works the claim or a lead and above: its deadlines stop and no payout starts."""
    placement = HoldPlacement(actor=actor, request=request)
    return await _act(ctx, claim_id, Action.hold, actor, ClaimWorkflow.hold, placement)


async def release_hold(ctx: Context, claim_id: str, actor: Actor, request: HoldReleaseRequest) -> ClaimDetail:
    """Legal releases the hold; the deadlines resume with the time they had left."""
    release = HoldRelease(actor=actor, request=request)
    return await _act(ctx, claim_id, Action.release_hold, actor, ClaimWorkflow.release_hold, release)


async def mediate(ctx: Context, claim_id: str, actor: Actor, request: MediationRequest) -> ClaimDetail:
    """Record the parties' agreement; its evidence must be on this claim (the workflow knows only how much)."""
    permit(Action.mediate, actor.role)
    claim = await get(ctx, claim_id)
    missing = set(request.evidence_ids) - {e.id for e in claim.evidence}
    if missing:
        raise DomainError("unknown_evidence", f"no evidence {', '.join(map(str, sorted(missing)))} on this claim")
    agreement = MediationAgreement(actor=actor, request=request)
    return await _act(ctx, claim_id, Action.mediate, actor, ClaimWorkflow.mediate, agreement)


async def settle_mediation(ctx: Context, claim_id: str, actor: Actor, request: MediationOutcomeRequest) -> ClaimDetail:
    """What the customer said of the agreement: kept (the claim ends, no payout) or broken (back to review)."""
    settlement = MediationSettlement(actor=actor, request=request)
    return await _act(ctx, claim_id, Action.settle_mediation, actor, ClaimWorkflow.settle_mediation, settlement)


async def withdraw(ctx: Context, claim_id: str, actor: Actor, request: WithdrawRequest) -> ClaimDetail:
    return await _act(ctx, claim_id, Action.withdraw, actor, ClaimWorkflow.withdraw, [request])


async def set_payout_details(ctx: Context, claim_id: str, actor: Actor, details: PayoutDetails) -> ClaimDetail:
    """New payout details; after a decision they void it, and the specialist decides again."""
    return await _act_with_details(
        ctx, claim_id, details, Action.set_payout_details, actor, ClaimWorkflow.add_payout_details, []
    )


async def set_contacts(ctx: Context, claim_id: str, actor: Actor, contacts: Contacts) -> ClaimDetail:
    """New addresses for the parties, by whoever works the claim, while it is still open."""
    permit(Action.add_evidence, actor.role)
    claim = await get(ctx, claim_id)
    if claim.status.is_final:
        raise DomainError("invalid_state", f"the claim is {claim.status.value}; it can no longer change")
    check_casework(offers.caseworker(claim), actor)
    if not (contacts.customer_email or contacts.pro_email):
        raise DomainError("invalid_request", "give customer_email, pro_email or both")
    await asyncio.to_thread(claim_contacts.store, ctx.sessions, claim_id, contacts, actor)
    return await get(ctx, claim_id)


async def request_pro_statement(ctx: Context, claim_id: str, actor: Actor) -> ClaimDetail:
    """Ask the claim's pro for their statement: they are mailed a signed evidence link lasting until the deadline.

    Only whoever works the claim, while it collects evidence, on a claim whose policy has the step,
    and with the pro's email address on the claim (422 `no_pro_email` without one).
    """
    permit(Action.add_evidence, actor.role)
    claim = await _summary(ctx, claim_id)
    check_casework(claim.assignee, actor)
    if not (await asyncio.to_thread(claim_contacts.current, ctx.sessions, claim_id)).get(EvidenceSource.pro):
        raise DomainError(
            "no_pro_email", "the claim has no email address for the pro; add pro_email (PUT /claims/{id}/contacts)"
        )
    ask = ProStatementAsk(actor=actor)
    return await _act(ctx, claim_id, Action.add_evidence, actor, ClaimWorkflow.request_pro_statement, ask)


async def retry_payout(ctx: Context, claim_id: str, actor: Actor, request: PayoutRetry) -> ClaimDetail:
    """A refused payout paid again; to new details only after a new decision and approval."""
    return await _act_with_details(
        ctx, claim_id, request.payout, Action.settle_payout, actor, ClaimWorkflow.retry_payout, [request.reason]
    )


async def cancel_payout(ctx: Context, claim_id: str, actor: Actor, reason: str) -> ClaimDetail:
    return await _act(ctx, claim_id, Action.settle_payout, actor, ClaimWorkflow.cancel_payout, [reason])


async def assign(ctx: Context, claim_id: str, actor: Actor, request: AssignRequest) -> ClaimDetail:
    """A lead hands the casework to an active person who does casework."""
    permit(Action.assign, actor.role)
    to = await asyncio.to_thread(users.find, ctx.sessions, request.assignee)
    if to is None or not to.active:
        raise DomainError("invalid_assignee", f"no active user {request.assignee!r}")
    check_assignee(Role(to.role))
    request = request.model_copy(update={"assignee": to.id})
    return await _act(
        ctx, claim_id, Action.assign, actor, ClaimWorkflow.assign, Assignment(actor=actor, request=request)
    )


async def _act(
    ctx: Context,
    claim_id: str,
    action: Action,
    actor: Actor,
    update,
    args: list | BaseModel,
    id: str | None = None,
) -> ClaimDetail:
    """Send one human action, signed, to the claim's workflow and return the claim as it now stands.

    `args` follow the actor (the first Updates), or are the Update's one input model. An `id` makes
    sending the same action again harmless: Temporal answers it with the first outcome. Each is counted
    by action and outcome (`ok` or the refusal's code) for /metrics.
    """
    about_claim(claim_id)
    named = _named(action, update)
    try:
        claim = await _send(ctx, claim_id, action, actor, update, args, id)
    except DomainError as err:
        metrics.acted(named, err.code)
        log.info("%s refused: %s", named, err.code, extra={"action": named})
        raise
    except Exception:
        metrics.acted(named, "error")
        log.exception("%s failed", named, extra={"action": named})
        raise
    metrics.acted(named, "ok")
    log.info("%s: the claim is %s", named, claim.status.value, extra={"action": named})
    return claim


def _named(action: Action, update) -> str:
    """The action as /metrics names it: the rule's action, or the Update's name where one action has several."""
    return update.__name__ if action in (Action.settle_payout, Action.review) else action.value


async def _send(
    ctx: Context, claim_id: str, action: Action, actor: Actor, update, args: list | Assignment, id: str | None
) -> ClaimDetail:
    permit(action, actor.role)
    claim = await _summary(ctx, claim_id)
    if claim.status.is_final:
        raise DomainError("invalid_state", f"the claim is {claim.status.value}; it can no longer change")
    handle = ctx.client.get_workflow_handle(claim_workflow_id(claim_id))
    unsigned = [actor, *args] if isinstance(args, list) else [args]
    signed = sign(ctx.signing_key, claim_id, update.__name__, unsigned, await ctx.clock())
    try:
        await handle.execute_update(update, args=signed, id=id)
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type:
            raise DomainError(cause.type, cause.message) from None
        raise DomainError("invalid_state", "the claim changed while this action was applied; reload it") from None
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise DomainError("invalid_state", "the claim's process has ended; it can no longer change") from None
        raise
    return await get(ctx, claim_id)


async def _act_with_details(
    ctx: Context, claim_id: str, details: PayoutDetails | None, action: Action, actor: Actor, update, args: list
) -> ClaimDetail:
    """An action that may bring new payout details: stored first, removed again if the claim refuses."""
    permit(action, actor.role)
    await _summary(ctx, claim_id)
    ref = details and await asyncio.to_thread(payout_details.store, ctx.sessions, claim_id, details, actor)
    try:
        return await _act(ctx, claim_id, action, actor, update, [*args, ref])
    except DomainError:
        if ref:
            await asyncio.to_thread(payout_details.discard, ctx.sessions, ref)
        raise
