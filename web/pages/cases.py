"""Claims: the list every role filters, and the claim page where people act on a claim.

Every action is a form posting to the same service the API calls. A done action redirects back
to the claim (so a reload never sends it twice); a refused one shows the claim as it was, with
the rule's reason and what the person typed.
"""

from datetime import UTC, datetime
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from api.errors import describe, refusal
from rules import deadlines
from rules.errors import DomainError
from schema.bounds import Day
from schema.claims import (
    ApprovalRequest,
    AssignRequest,
    Contacts,
    DecisionRequest,
    EvidenceAdd,
    HoldReleaseRequest,
    HoldRequest,
    MediationOutcomeRequest,
    MediationRequest,
    PayoutCancel,
    PayoutDetails,
    PayoutRetry,
    SeverityRequest,
    WithdrawRequest,
)
from schema.enums import (
    Action,
    ClaimSort,
    ClaimStatus,
    ClaimType,
    DenialReason,
    EvidenceKind,
    EvidenceSource,
    HoldReason,
    MediationKind,
    Team,
)
from schema.money import parse_amount
from schema.policy import load_policy
from schema.referrals import ReferralRequest
from schema.signals import load_signal_rules
from service import claims, links, offers, queries, referrals, signals, users
from service.evidence import EvidenceMissing
from web import forms
from web.door import MAX_FILES, csrf_checked, session_of
from web.pages.signals import RULE_NAMES
from web.render import render
from web.uploads import staged_evidence

router = APIRouter()
PAGE = 50
RASTER = ("image/png", "image/jpeg", "image/gif", "image/webp")  # shown inline; every other file downloads


class Filters(BaseModel):
    """The list's filters as a form sends them: an empty field means no filter."""

    model_config = ConfigDict(extra="ignore")

    status: ClaimStatus | None = None
    type: ClaimType | None = None
    assignee: str | None = Field(None, max_length=200)
    opened_from: Day | None = Field(None, alias="from")
    opened_to: Day | None = Field(None, alias="to")
    sort: ClaimSort = ClaimSort.newest
    page: int = Field(1, ge=1, le=100_000)

    @field_validator("*", mode="before")
    @classmethod
    def _blank(cls, value):
        return None if value == "" else value


@router.get("/cases")
async def list_cases(request: Request):
    try:
        chosen = Filters.model_validate(dict(request.query_params))
    except ValidationError as err:
        raise DomainError("invalid_request", describe(err.errors())) from None
    status, type, assignee = chosen.status, chosen.type, chosen.assignee
    opened_from, opened_to, sort, page = (
        chosen.opened_from,
        chosen.opened_to,
        chosen.sort or ClaimSort.newest,
        chosen.page,
    )
    me = session_of(request).actor
    ctx = request.app.state.ctx
    found = await run_in_threadpool(
        lambda: queries.list_claims(
            ctx.sessions,
            actor=me,
            status=status,
            type=type,
            assignee=assignee or None,
            opened_from=opened_from,
            opened_to=opened_to,
            sort=sort,
            limit=PAGE,
            offset=(page - 1) * PAGE,
        )
    )
    people = await run_in_threadpool(users.names, ctx.sessions, {c.assignee for c in found.items})
    filters = {"status": status, "type": type, "assignee": assignee, "from": opened_from, "to": opened_to, "sort": sort}
    filters = {k: v for k, v in filters.items() if v}
    return render(
        request,
        "cases.html",
        nav="cases",
        title="Claims",
        page=found,
        number=page,
        pages=max(1, -(-found.total // PAGE)),
        filters=filters,
        query=urlencode({k: getattr(v, "value", v) for k, v in filters.items()}),
        people=people,
        statuses=list(ClaimStatus),
        types=list(ClaimType),
        sorts=list(ClaimSort),
    )


async def claim_page(request: Request, claim_id: str, status: int = 200, **extra):
    """The claim as it stands now, with what this person may do; `extra` carries a refusal and its form."""
    ctx = request.app.state.ctx
    me = session_of(request).actor
    claim = await claims.get(ctx, claim_id)
    try:
        policy = load_policy(claim.policy_version)
    except LookupError:
        policy = ctx.policy
    waiting_since = next((t.at for t in reversed(claim.timeline) if t.action in ("decided", "escalated")), None)
    step = deadlines.next_step(
        policy,
        claim.status,
        claim.assignee,
        claim.opened_at,
        claim.decision_requested_at,
        waiting_since,
        claim.severity,
        next((m.due_at for m in claim.mediations if m.outcome is None), None),
    )
    mentioned = {claim.opened_by, claim.assignee, step.waits_on, claim.payout_details_by}
    mentioned |= {e.added_by for e in claim.evidence} | {d.decided_by for d in claim.decisions}
    mentioned |= {a.approver_id for a in claim.approvals} | {d.added_by for d in claim.payout_details}
    mentioned |= {t.actor_id for t in claim.timeline} | {m.agreed_by for m in claim.mediations}
    asked = await run_in_threadpool(lambda: referrals.listed(ctx.sessions, me, claim_id=claim_id))
    mentioned |= {r.referred_by for r in asked} | {r.owner for r in asked}
    names = await run_in_threadpool(users.names, ctx.sessions, mentioned)
    offer = offers.for_person(claim, me, ctx.policy)
    assignable = await run_in_threadpool(users.caseworkers, ctx.sessions) if Action.assign in offer else []
    # Links for the customer and the pro: for those who may add evidence to the claim.
    link_list = await links.list_links(ctx, claim_id, me) if Action.add_evidence in offer else []
    makers = {x.created_by for x in link_list} | {x.revoked_by for x in link_list}
    names |= await run_in_threadpool(users.names, ctx.sessions, makers)
    # Risk signals across claims that touch this one: read now from the database, never kept on the claim.
    touching = await run_in_threadpool(
        signals.find, ctx.sessions, ctx.policy, load_signal_rules(), datetime.now(UTC), claim_id
    )
    in_use = next((d for d in claim.payout_details if d.id == claim.payout_details_id), None) or (
        claim.payout_details[-1] if claim.payout_details else None
    )
    return render(
        request,
        "case.html",
        status,
        nav="cases",
        title=f"Claim {claim.id}",
        claim=claim,
        policy=policy,
        step=step,
        names=names,
        offers=offer,
        assignable=assignable,
        in_use=in_use,
        referrals=asked,
        signals=touching.signals,
        signal_names=RULE_NAMES,
        teams=list(Team),
        contacts={c.party.value: c.email for c in claim.contacts},
        decision=claim.decisions[-1] if claim.decisions and claim.status == ClaimStatus.pending_approval else None,
        raster=RASTER,
        kinds=list(EvidenceKind),
        sources=list(EvidenceSource),
        reasons=list(DenialReason),
        hold_reasons=list(HoldReason),
        mediation_kinds=list(MediationKind),
        follow_up_days=policy.mediation_max_days,
        max_files=MAX_FILES,
        links=link_list,
        ask_pro=offers.may_ask_pro(claim, offer),
        link_days=links.LINK_DAYS,
        max_link_days=links.MAX_LINK_DAYS,
        **(
            {"form": {}, "failed": None, "problem": None, "done": request.query_params.get("done"), "new_link": None}
            | extra
        ),
    )


@router.get("/cases/{claim_id}")
async def show(request: Request, claim_id: str):
    return await claim_page(request, claim_id)


@router.get("/cases/{claim_id}/version")
async def version(request: Request, claim_id: str) -> dict:
    """Changes when anything on the claim does: the page's script reloads the claim when it moves."""
    claim = await claims.get(request.app.state.ctx, claim_id)
    return {"version": f"{len(claim.timeline)}:{claim.updated_at.isoformat()}", "status": claim.status}


@router.get("/cases/{claim_id}/files/{sha256}")
async def file(request: Request, claim_id: str, sha256: str):
    """An evidence file of this claim: raster images inline, everything else as a download, never run."""
    ctx = request.app.state.ctx
    claim = await claims.get(ctx, claim_id)
    ref = next((e.file for e in claim.evidence if e.file and e.file.sha256 == sha256), None)
    if ref is None:
        raise DomainError("not_found", "this claim has no such file")
    inline = ref.content_type in RASTER
    try:
        content = await run_in_threadpool(ctx.evidence.chunks, ref.sha256)
    except EvidenceMissing:
        raise DomainError("not_found", "this file is missing from the evidence store") from None
    return StreamingResponse(
        content,
        media_type=ref.content_type if inline else "application/octet-stream",
        headers={
            "Content-Disposition": _disposition("inline" if inline else "attachment", ref.filename),
            "Content-Length": str(ref.size_bytes),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox; default-src 'none'",
        },
    )


def _disposition(kind: str, filename: str) -> str:
    """The file's name as Starlette's FileResponse gives it: plain when it can be, else RFC 5987's UTF-8 form."""
    quoted = quote(filename)
    return f'{kind}; filename="{filename}"' if quoted == filename else f"{kind}; filename*=utf-8''{quoted}"


async def _act(request: Request, claim_id: str, action: str, call):
    """Check the form's CSRF token, run the action, and show the claim: moved on, or refused as it was."""
    form = await request.form()
    me = csrf_checked(request, form.get("csrf")).actor
    ctx = request.app.state.ctx
    try:
        await call(ctx, me, form)
    except ValidationError as err:
        return await claim_page(request, claim_id, 422, problem=describe(err.errors()), form=form, failed=action)
    except DomainError as err:
        if err.code == "not_found":
            raise
        return await claim_page(request, claim_id, refusal(err).status, problem=err.message, form=form, failed=action)
    return RedirectResponse(f"/cases/{claim_id}?done={action}", status_code=303)


def _amount(form: FormData, name: str) -> int | None:
    text = forms.text(form, name)
    if text is None:
        return None
    try:
        return parse_amount(text)
    except ValueError as err:
        raise DomainError("invalid_amount", str(err)) from None


def _details(form: FormData) -> PayoutDetails | None:
    method, destination = forms.text(form, "method"), forms.text(form, "destination")
    if not method or not destination:
        return None
    key = "account_id" if method == "transfer" else "charge_id"
    return PayoutDetails.model_validate({"method": method, key: destination})


@router.post("/cases/{claim_id}/evidence")
async def add_evidence(request: Request, claim_id: str):
    """A note, or up to MAX_FILES files at once: one piece of evidence each, all of the same kind and source."""
    form = await request.form(max_files=MAX_FILES)
    files = [f for f in form.getlist("files") if isinstance(f, UploadFile) and f.filename]
    me = csrf_checked(request, form.get("csrf")).actor
    ctx = request.app.state.ctx
    base = {"kind": forms.text(form, "kind"), "source": forms.text(form, "source"), "note": forms.text(form, "note")}
    try:
        if not files:
            await claims.add_evidence(ctx, claim_id, me, EvidenceAdd.model_validate(base))
        for upload in files:
            evidence, staged = await staged_evidence(ctx, upload, base)
            await claims.add_evidence(ctx, claim_id, me, evidence, staged=staged)
    except ValidationError as err:
        return await claim_page(request, claim_id, 422, problem=describe(err.errors()), form=form, failed="evidence")
    except DomainError as err:
        if err.code == "not_found":
            raise
        status = refusal(err).status
        return await claim_page(request, claim_id, status, problem=err.message, form=form, failed="evidence")
    return RedirectResponse(f"/cases/{claim_id}?done=evidence", status_code=303)


@router.post("/cases/{claim_id}/evidence/complete")
async def complete_evidence(request: Request, claim_id: str):
    return await _act(request, claim_id, "complete", lambda ctx, me, form: claims.complete_evidence(ctx, claim_id, me))


@router.post("/cases/{claim_id}/pro-statement")
async def ask_pro(request: Request, claim_id: str):
    return await _act(
        request, claim_id, "pro_statement", lambda ctx, me, form: claims.request_pro_statement(ctx, claim_id, me)
    )


@router.post("/cases/{claim_id}/payout-details")
async def payout_details(request: Request, claim_id: str):
    async def call(ctx, me, form):
        details = _details(form)
        if details is None:
            raise DomainError("invalid_request", "say how the money goes: an account (acct_...) or a charge (ch_...)")
        await claims.set_payout_details(ctx, claim_id, me, details)

    return await _act(request, claim_id, "payout_details", call)


@router.post("/cases/{claim_id}/contacts")
async def contacts(request: Request, claim_id: str):
    async def call(ctx, me, form):
        given = {"customer_email": forms.text(form, "customer_email"), "pro_email": forms.text(form, "pro_email")}
        await claims.set_contacts(ctx, claim_id, me, Contacts.model_validate(given))

    return await _act(request, claim_id, "contacts", call)


@router.post("/cases/{claim_id}/referrals")
async def refer(request: Request, claim_id: str):
    async def call(ctx, me, form):
        asked = ReferralRequest.model_validate({"team": forms.text(form, "team"), "note": forms.text(form, "note")})
        await referrals.refer(ctx, claim_id, me, asked)

    return await _act(request, claim_id, "refer", call)


@router.post("/cases/{claim_id}/decision")
async def decide(request: Request, claim_id: str):
    async def call(ctx, me, form):
        outcome = forms.text(form, "outcome")
        decision = {"outcome": outcome, "rationale": forms.text(form, "rationale")}
        if outcome == "approve":
            decision["amount_cents"] = _amount(form, "amount")
        else:
            decision["reason_code"] = forms.text(form, "reason_code")
        await claims.decide(ctx, claim_id, me, DecisionRequest.model_validate(decision))

    return await _act(request, claim_id, "decision", call)


@router.post("/cases/{claim_id}/approval")
async def review(request: Request, claim_id: str):
    async def call(ctx, me, form):
        seen = forms.text(form, "payout_details_id")
        approval = {"verdict": forms.text(form, "verdict"), "note": forms.text(form, "note") or ""}
        if seen and seen.isdigit():
            approval["payout_details_id"] = int(seen)
        await claims.review(ctx, claim_id, me, ApprovalRequest.model_validate(approval))

    return await _act(request, claim_id, "approval", call)


@router.post("/cases/{claim_id}/hold")
async def hold(request: Request, claim_id: str):
    async def call(ctx, me, form):
        placed = {"reason_code": forms.text(form, "reason_code"), "note": forms.text(form, "note")}
        await claims.hold(ctx, claim_id, me, HoldRequest.model_validate(placed))

    return await _act(request, claim_id, "hold", call)


@router.post("/cases/{claim_id}/hold/release")
async def release_hold(request: Request, claim_id: str):
    async def call(ctx, me, form):
        await claims.release_hold(
            ctx, claim_id, me, HoldReleaseRequest.model_validate({"note": forms.text(form, "note")})
        )

    return await _act(request, claim_id, "release", call)


@router.post("/cases/{claim_id}/mediation")
async def mediate(request: Request, claim_id: str):
    async def call(ctx, me, form):
        agreement = {
            "kind": forms.text(form, "kind"),
            "terms": forms.text(form, "terms"),
            "evidence_ids": [int(i) for i in form.getlist("evidence_ids") if str(i).isdigit()],
            "follow_up_by": forms.text(form, "follow_up_by"),
        }
        await claims.mediate(ctx, claim_id, me, MediationRequest.model_validate(agreement))

    return await _act(request, claim_id, "mediation", call)


@router.post("/cases/{claim_id}/mediation/outcome")
async def settle_mediation(request: Request, claim_id: str):
    async def call(ctx, me, form):
        said = {"outcome": forms.text(form, "outcome"), "note": forms.text(form, "note")}
        await claims.settle_mediation(ctx, claim_id, me, MediationOutcomeRequest.model_validate(said))

    return await _act(request, claim_id, "mediation_outcome", call)


@router.post("/cases/{claim_id}/severity")
async def set_severity(request: Request, claim_id: str):
    async def call(ctx, me, form):
        change = {"severity": forms.text(form, "severity"), "reason": forms.text(form, "reason")}
        await claims.set_severity(ctx, claim_id, me, SeverityRequest.model_validate(change))

    return await _act(request, claim_id, "severity", call)


@router.post("/cases/{claim_id}/withdraw")
async def withdraw(request: Request, claim_id: str):
    async def call(ctx, me, form):
        await claims.withdraw(ctx, claim_id, me, WithdrawRequest.model_validate({"reason": forms.text(form, "reason")}))

    return await _act(request, claim_id, "withdraw", call)


@router.post("/cases/{claim_id}/assignee")
async def assign(request: Request, claim_id: str):
    async def call(ctx, me, form):
        req = AssignRequest.model_validate(
            {"assignee": forms.text(form, "assignee"), "reason": forms.text(form, "reason")}
        )
        await claims.assign(ctx, claim_id, me, req)

    return await _act(request, claim_id, "assign", call)


@router.post("/cases/{claim_id}/payout/retry")
async def retry_payout(request: Request, claim_id: str):
    async def call(ctx, me, form):
        retry = PayoutRetry(reason=forms.text(form, "reason") or "", payout=_details(form))
        await claims.retry_payout(ctx, claim_id, me, retry)

    return await _act(request, claim_id, "retry", call)


@router.post("/cases/{claim_id}/payout/cancel")
async def cancel_payout(request: Request, claim_id: str):
    async def call(ctx, me, form):
        await claims.cancel_payout(ctx, claim_id, me, PayoutCancel(reason=forms.text(form, "reason") or "").reason)

    return await _act(request, claim_id, "cancel", call)
