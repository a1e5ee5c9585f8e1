"""The HTTP API of the interface contract: claim routes, finance routes, health.

Each route authenticates, parses, and calls the service layer; `api.errors` turns the service's
refusals into status codes. Every change goes to the claim's workflow as an Update, which answers
only once the change is in the database, so the claim returned reflects it.
"""

from collections.abc import Iterable
from datetime import UTC, datetime, time
from typing import Annotated

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from api import codec, errors, inputs
from api import metrics as api_metrics
from api.auth import allow, current_actor
from api.errors import ApiError
from api.gate import Gate
from api.uploads import Upload, read_upload
from finance import ledger_report
from schema.audit import AuditReport
from schema.bounds import Day
from schema.claims import (
    Actor,
    ApprovalRequest,
    AssignRequest,
    ClaimDetail,
    ClaimOpenBody,
    ClaimPage,
    Contacts,
    DecisionRequest,
    EvidenceAdd,
    FileRef,
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
from schema.digests import DigestView
from schema.enums import (
    Action,
    ClaimSort,
    ClaimStatus,
    ClaimType,
    EvidenceKind,
    EvidenceSource,
    PayoutStatus,
    ReferralStatus,
    Team,
)
from schema.finance import LedgerPage, ReconcileRequest, ReconciliationView
from schema.kpis import Breakdown, KpiReport
from schema.referrals import ReferralAnswer, ReferralRequest, ReferralView
from schema.signals import SignalList, load_signal_rules
from service import audit, claims, digests, inbox, kpis, links, queries, reconciliations, referrals, signals
from service.context import Context
from stack import tracing
from stack.logs import RequestIds

# A row's number in a path: PostgreSQL's integer ids end at 2**31 - 1.
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def create_app(ctx: Context, ui_origins: Iterable[str] = ()) -> FastAPI:
    """The API on `ctx`; `ui_origins` are the Temporal UI's origins, which may call the codec endpoint."""
    app = FastAPI(title="Guarantee payouts", version="1", dependencies=[Depends(inputs.refuse_nul)])
    app.state.ctx = ctx
    app.add_middleware(Gate)  # the token, then the body's size, before any route reads a byte of it
    errors.install(app)
    _routes(app)
    codec.install(app, ui_origins)
    api_metrics.install(app)
    app.add_middleware(RequestIds)  # outermost: every line of the request, refusals too, has its id
    tracing.instrument(app)  # a server span per request when tracing is on
    return app


def _ctx(request: Request) -> Context:
    return request.app.state.ctx


Ctx = Annotated[Context, Depends(_ctx)]
MAX_OFFSET = 10**9  # far beyond any list, well inside the databases' 64-bit OFFSET


def _csv(chunks, filename: str) -> StreamingResponse:
    return StreamingResponse(
        chunks, media_type="text/csv", headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


def _wants_csv(request: Request) -> bool:
    return "text/csv" in request.headers.get("accept", "")


def _routes(app: FastAPI) -> None:
    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/users/me", response_model_exclude={"signature"})
    async def me(actor: Actor = Depends(current_actor)) -> Actor:
        return actor

    @app.post("/claims", status_code=201)
    async def create(body: ClaimOpenBody, ctx: Ctx, actor: Actor = Depends(allow(Action.open))) -> ClaimDetail:
        contacts = body.contacts if body.customer_email or body.pro_email else None
        return await claims.open_claim(ctx, actor, body.claim, body.payout, contacts=contacts)

    @app.get("/claims")
    async def list_(
        ctx: Ctx,
        actor: Actor = Depends(allow(Action.read_claims)),
        status: ClaimStatus | None = None,
        type: ClaimType | None = None,
        assignee: str | None = None,
        awaiting: Annotated[str | None, Query(pattern="^me$")] = None,
        stuck: bool | None = None,
        held: bool | None = None,
        opened_from: Annotated[Day | None, Query(alias="from")] = None,
        opened_to: Annotated[Day | None, Query(alias="to")] = None,
        sort: ClaimSort = ClaimSort.newest,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    ) -> ClaimPage:
        """Claims (newest first unless `sort` says otherwise), opened `from`..`to` (UTC days, both included);
        `stuck=true`: those whose process could not record a step (oldest first)."""
        return await run_in_threadpool(
            lambda: queries.list_claims(
                ctx.sessions,
                actor=actor,
                status=status,
                type=type,
                assignee=assignee,
                awaiting_me=awaiting == "me",
                stuck=stuck,
                held=held,
                opened_from=opened_from,
                opened_to=opened_to,
                sort=sort,
                limit=limit,
                offset=offset,
            )
        )

    @app.get("/payouts", response_model=LedgerPage)
    async def payouts(
        request: Request,
        ctx: Ctx,
        actor: Actor = Depends(allow(Action.read_finance)),
        date_from: Annotated[Day | None, Query(alias="from")] = None,
        date_to: Annotated[Day | None, Query(alias="to")] = None,
        status: PayoutStatus | None = None,
        type: ClaimType | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    ):
        """The ledger; with `Accept: text/csv`, every matching payout as CSV (amounts in major units)."""
        if date_from and date_to and date_to < date_from:
            raise ApiError(422, "invalid_request", "`to` is before `from`")
        selection = ledger_report.LedgerFilter(date_from, date_to, status, type)
        if _wants_csv(request):
            return _csv(ledger_report.csv_chunks(ledger_report.stream(ctx.sessions, selection)), "payouts.csv")
        return await run_in_threadpool(ledger_report.page, ctx.sessions, selection, limit, offset)

    @app.post("/reconciliations", status_code=202)
    async def start_reconciliation(
        body: ReconcileRequest, ctx: Ctx, actor: Actor = Depends(allow(Action.read_finance))
    ) -> ReconciliationView:
        """Starts a reconciliation of whole UTC days; read its report at GET /reconciliations/{id}."""
        return await reconciliations.start(ctx, body, actor)

    @app.get("/reconciliations")
    async def list_reconciliations(
        ctx: Ctx,
        actor: Actor = Depends(allow(Action.read_finance)),
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> list[ReconciliationView]:
        return await run_in_threadpool(reconciliations.recent, ctx.sessions, limit)

    @app.get("/reconciliations/{reconciliation_id}", response_model=ReconciliationView)
    async def get_reconciliation(
        reconciliation_id: str,
        request: Request,
        ctx: Ctx,
        actor: Actor = Depends(allow(Action.read_finance)),
        limit: Annotated[int, Query(ge=0, le=5_000)] = 1_000,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    ):
        """The report and its discrepancies (paged); with `Accept: text/csv`, every discrepancy as CSV."""
        report = await run_in_threadpool(reconciliations.get, ctx.sessions, reconciliation_id, limit, offset)
        if _wants_csv(request):
            return _csv(reconciliations.csv_chunks(ctx.sessions, reconciliation_id), f"{reconciliation_id}.csv")
        return report

    @app.get("/kpis", response_model=KpiReport)
    async def kpi_report(
        request: Request,
        ctx: Ctx,
        actor: Actor = Depends(allow(Action.read_kpis)),
        date_from: Annotated[Day | None, Query(alias="from")] = None,
        date_to: Annotated[Day | None, Query(alias="to")] = None,
        by: Breakdown = Breakdown.none,
    ):
        """The KPI report for whole UTC days `from`..`to` (both included; default the last 7 days, at most 366),
        in total and broken down `by` claim type, channel, approval tier, specialist or ISO week;
        with `Accept: text/csv`, one row for the total and one per group."""
        period = kpis.period(date_from, date_to)
        found = await run_in_threadpool(kpis.report, ctx.sessions, period.date_from, period.date_to, by)
        if _wants_csv(request):
            return _csv(iter([kpis.csv_text(found)]), "kpis.csv")
        return found

    @app.get("/signals")
    async def signal_list(
        ctx: Ctx,
        actor: Actor = Depends(allow(Action.read_kpis)),
        at: Annotated[Day | None, Query(description="the end of that UTC day; default: now")] = None,
        claim: Annotated[str | None, Query(max_length=200, description="only the signals touching this claim")] = None,
    ) -> SignalList:
        """Trend and risk signals for leads: each rule of the signal rules (versioned data) that holds at `at`;
        with `claim`, only those that touch that claim (its risk flags, as its web page shows them)."""
        now = datetime.now(UTC) if at is None else datetime.combine(at, time(23, 59, 59), tzinfo=UTC)
        found = await run_in_threadpool(signals.find, ctx.sessions, ctx.policy, load_signal_rules(), now, claim)
        return found

    @app.get("/digests")
    async def list_digests(
        ctx: Ctx,
        actor: Actor = Depends(allow(Action.read_kpis)),
        limit: Annotated[int, Query(ge=1, le=520)] = 52,
    ) -> list[DigestView]:
        """The weekly digests, newest first, without their bodies: whom each was for and where it was mailed."""
        return await run_in_threadpool(digests.recent, ctx.sessions, limit)

    @app.get("/digests/{digest_id}")
    async def get_digest(
        digest_id: Annotated[str, Path(max_length=200)], ctx: Ctx, actor: Actor = Depends(allow(Action.read_kpis))
    ) -> DigestView:
        """One weekly digest as it was built: the week's KPIs by claim type and the signals new that week."""
        return await run_in_threadpool(digests.get, ctx.sessions, digest_id)

    @app.get("/audit/verify")
    async def verify_audit(
        ctx: Ctx,
        actor: Actor = Depends(allow(Action.verify_audit)),
        limit: Annotated[int, Query(ge=0, le=100_000)] = 1_000,
    ) -> AuditReport:
        """Walks every claim's audit chain: `intact`, or each row edited, deleted or inserted (the first `limit`)."""
        return await run_in_threadpool(audit.verify, ctx.sessions, ctx.audit_key, None, limit)

    @app.get("/claims/{claim_id}")
    async def get(claim_id: str, ctx: Ctx, actor: Actor = Depends(allow(Action.read_claims))) -> ClaimDetail:
        return await claims.get(ctx, claim_id)

    @app.post("/claims/{claim_id}/evidence", status_code=201, openapi_extra=EVIDENCE_BODY)
    async def add_evidence(
        claim_id: str, request: Request, ctx: Ctx, actor: Actor = Depends(allow(Action.add_evidence))
    ) -> ClaimDetail:
        """Evidence as JSON (a note) or as multipart/form-data with `file` (at most 25 MB), `kind`, `source`, `note`."""
        await claims.get(ctx, claim_id)  # an unknown claim is a 404 before a byte of an upload is read
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            return await claims.add_evidence(ctx, claim_id, actor, await _json_evidence(request))
        upload = await read_upload(request, ctx.evidence)
        try:
            evidence = _uploaded_evidence(upload)
        except BaseException:
            upload.discard()
            raise
        return await claims.add_evidence(ctx, claim_id, actor, evidence, staged=upload.file)

    @app.post("/claims/{claim_id}/links", status_code=201)
    async def create_link(
        claim_id: str,
        body: links.LinkRequest,
        request: Request,
        ctx: Ctx,
        actor: Actor = Depends(allow(Action.add_evidence)),
    ) -> links.LinkView:
        """A link through which the customer or the pro adds evidence until it expires (`days`, 1..30,
        default 7). Its `url` is in this answer only: send it to them now."""
        return await links.create(ctx, claim_id, actor, body, str(request.base_url))

    @app.get("/claims/{claim_id}/links")
    async def list_links(
        claim_id: str, ctx: Ctx, actor: Actor = Depends(allow(Action.read_claims))
    ) -> list[links.LinkView]:
        """The claim's evidence links, oldest first, without their URLs."""
        return await links.list_links(ctx, claim_id, actor)

    @app.post("/claims/{claim_id}/links/{link_id}/revoke")
    async def revoke_link(
        claim_id: str,
        link_id: RowId,
        ctx: Ctx,
        actor: Actor = Depends(allow(Action.add_evidence)),
    ) -> links.LinkView:
        return await links.revoke(ctx, claim_id, link_id, actor)

    @app.post("/claims/{claim_id}/evidence/complete")
    async def complete_evidence(
        claim_id: str, ctx: Ctx, actor: Actor = Depends(allow(Action.complete_evidence))
    ) -> ClaimDetail:
        return await claims.complete_evidence(ctx, claim_id, actor)

    @app.post("/claims/{claim_id}/pro-statement")
    async def request_pro_statement(
        claim_id: str, ctx: Ctx, actor: Actor = Depends(allow(Action.add_evidence))
    ) -> ClaimDetail:
        """Ask the pro for their statement: mailed a signed evidence link, due in the policy's days.

        422 `no_pro_email` when the claim has no address for the pro; 409 when already asked or not collecting evidence.
        """
        return await claims.request_pro_statement(ctx, claim_id, actor)

    @app.post("/claims/{claim_id}/decision")
    async def decide(
        claim_id: str, req: DecisionRequest, ctx: Ctx, actor: Actor = Depends(allow(Action.decide))
    ) -> ClaimDetail:
        return await claims.decide(ctx, claim_id, actor, req)

    @app.post("/claims/{claim_id}/approval")
    async def approve(
        claim_id: str, req: ApprovalRequest, ctx: Ctx, actor: Actor = Depends(allow(Action.review))
    ) -> ClaimDetail:
        return await claims.review(ctx, claim_id, actor, req)

    @app.put("/claims/{claim_id}/payout-details")
    async def set_payout_details(
        claim_id: str, details: PayoutDetails, ctx: Ctx, actor: Actor = Depends(allow(Action.set_payout_details))
    ) -> ClaimDetail:
        return await claims.set_payout_details(ctx, claim_id, actor, details)

    @app.put("/claims/{claim_id}/contacts")
    async def set_contacts(
        claim_id: str, contacts: Contacts, ctx: Ctx, actor: Actor = Depends(allow(Action.add_evidence))
    ) -> ClaimDetail:
        """The customer's and the pro's email addresses; each change is kept, the newest is in use."""
        return await claims.set_contacts(ctx, claim_id, actor, contacts)

    @app.post("/claims/{claim_id}/referrals", status_code=201)
    async def refer(
        claim_id: str, request: ReferralRequest, ctx: Ctx, actor: Actor = Depends(allow(Action.refer))
    ) -> ReferralView:
        """Hand a question about the claim to another team: legal, payments risk, pro quality, law enforcement."""
        return await referrals.refer(ctx, claim_id, actor, request)

    @app.get("/referrals")
    async def list_referrals(
        ctx: Ctx,
        actor: Actor = Depends(allow(Action.read_claims)),
        team: Team | None = None,
        status: ReferralStatus | None = None,
        claim_id: Annotated[str | None, Query(max_length=200)] = None,
    ) -> list[ReferralView]:
        """A team's referrals (oldest first), or a claim's."""
        return await run_in_threadpool(referrals.listed, ctx.sessions, actor, team, status, None, claim_id)

    @app.post("/referrals/{referral_id}/take")
    async def take_referral(
        referral_id: RowId, ctx: Ctx, actor: Actor = Depends(allow(Action.handle_referral))
    ) -> ReferralView:
        return await run_in_threadpool(referrals.take, ctx.sessions, referral_id, actor)

    @app.post("/referrals/{referral_id}/answer")
    async def answer_referral(
        referral_id: RowId, reply: ReferralAnswer, ctx: Ctx, actor: Actor = Depends(allow(Action.handle_referral))
    ) -> ReferralView:
        return await run_in_threadpool(referrals.answer, ctx.sessions, referral_id, actor, reply)

    @app.post("/claims/{claim_id}/payout/retry")
    async def retry_payout(
        claim_id: str, req: PayoutRetry, ctx: Ctx, actor: Actor = Depends(allow(Action.settle_payout))
    ) -> ClaimDetail:
        return await claims.retry_payout(ctx, claim_id, actor, req)

    @app.post("/claims/{claim_id}/payout/cancel")
    async def cancel_payout(
        claim_id: str, req: PayoutCancel, ctx: Ctx, actor: Actor = Depends(allow(Action.settle_payout))
    ) -> ClaimDetail:
        return await claims.cancel_payout(ctx, claim_id, actor, req.reason)

    @app.post("/claims/{claim_id}/assignee")
    async def assign(
        claim_id: str, req: AssignRequest, ctx: Ctx, actor: Actor = Depends(allow(Action.assign))
    ) -> ClaimDetail:
        """A lead hands the claim's casework to another person (a user id or name)."""
        return await claims.assign(ctx, claim_id, actor, req)

    @app.post("/inbound/email", openapi_extra=RAW_EMAIL_BODY)
    async def inbound_email(request: Request, ctx: Ctx) -> inbox.MessageView:
        """A raw message (`Content-Type: message/rfc822`) from a mail provider, with `X-Inbound-Secret`: stored and
        routed as the SMTP receiver does. The same Message-ID again answers the first record."""
        kind = request.headers.get("content-type", "message/rfc822").split(";")[0].strip().lower()
        if kind not in ("message/rfc822", "application/octet-stream"):
            raise ApiError(415, "unsupported_media_type", "send the raw message as Content-Type: message/rfc822")
        raw = await request.body()
        if not raw.strip():
            raise ApiError(422, "invalid_request", "the body is empty: send the raw message")
        return await inbox.receive(ctx, raw, "http")

    @app.get("/inbox")
    async def list_inbox(
        ctx: Ctx,
        actor: Actor = Depends(allow(Action.open)),
        state: inbox.MessageState | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    ) -> inbox.InboxPage:
        """Messages received, newest first; `state=inbox` for those waiting on a specialist."""
        return await run_in_threadpool(inbox.list_messages, ctx.sessions, actor, state, limit, offset)

    @app.get("/inbox/{message_id}")
    async def get_message(
        message_id: RowId, ctx: Ctx, actor: Actor = Depends(allow(Action.open))
    ) -> inbox.MessageDetail:
        return await inbox.get(ctx, actor, message_id)

    @app.post("/inbox/{message_id}/claim", status_code=201)
    async def claim_from_message(
        message_id: RowId,
        body: inbox.InboxClaimBody,
        ctx: Ctx,
        actor: Actor = Depends(allow(Action.open)),
    ) -> ClaimDetail:
        """Opens a claim from a message in the inbox (the fields of `POST /claims`; description, customer_email and
        channel default to the message's text, its sender and `email`); every attachment becomes evidence."""
        return await inbox.open_claim(ctx, actor, message_id, body)

    @app.post("/inbox/{message_id}/dismiss")
    async def dismiss_message(
        message_id: RowId,
        body: inbox.DismissRequest,
        ctx: Ctx,
        actor: Actor = Depends(allow(Action.open)),
    ) -> inbox.MessageView:
        """Not a claim: the message leaves the inbox with the reason."""
        return await inbox.dismiss(ctx, actor, message_id, body)

    @app.post("/claims/{claim_id}/severity")
    async def set_severity(
        claim_id: str, req: SeverityRequest, ctx: Ctx, actor: Actor = Depends(allow(Action.set_severity))
    ) -> ClaimDetail:
        """Whoever works the claim changes its severity, with a reason; its SLAs follow (policy v4 on)."""
        return await claims.set_severity(ctx, claim_id, actor, req)

    @app.post("/claims/{claim_id}/hold")
    async def hold(
        claim_id: str, req: HoldRequest, ctx: Ctx, actor: Actor = Depends(allow(Action.hold))
    ) -> ClaimDetail:
        """A legal hold (whoever works the claim, or a lead and above): deadlines stop, no payout starts."""
        return await claims.hold(ctx, claim_id, actor, req)

    @app.post("/claims/{claim_id}/hold/release")
    async def release_hold(
        claim_id: str, req: HoldReleaseRequest, ctx: Ctx, actor: Actor = Depends(allow(Action.release_hold))
    ) -> ClaimDetail:
        """Legal only: the deadlines resume with the time they had left."""
        return await claims.release_hold(ctx, claim_id, actor, req)

    @app.post("/claims/{claim_id}/mediation")
    async def mediate(
        claim_id: str, req: MediationRequest, ctx: Ctx, actor: Actor = Depends(allow(Action.mediate))
    ) -> ClaimDetail:
        """The customer and the pro agreed between themselves (policy v5 on): terms, the evidence of it on the
        claim, and the day to follow up by. The claim waits until that day ends, and pays nothing."""
        return await claims.mediate(ctx, claim_id, actor, req)

    @app.post("/claims/{claim_id}/mediation/outcome")
    async def settle_mediation(
        claim_id: str,
        req: MediationOutcomeRequest,
        ctx: Ctx,
        actor: Actor = Depends(allow(Action.settle_mediation)),
    ) -> ClaimDetail:
        """What the customer said: `kept` ends the claim `resolved_by_mediation`; `broken` sends it back to review."""
        return await claims.settle_mediation(ctx, claim_id, actor, req)

    @app.post("/claims/{claim_id}/withdraw")
    async def withdraw(
        claim_id: str, req: WithdrawRequest, ctx: Ctx, actor: Actor = Depends(allow(Action.withdraw))
    ) -> ClaimDetail:
        return await claims.withdraw(ctx, claim_id, actor, req)


_EVIDENCE_FIELDS = {
    "kind": {"type": "string", "enum": [k.value for k in EvidenceKind]},
    "source": {"type": "string", "enum": [k.value for k in EvidenceSource]},
    "note": {"type": "string", "maxLength": 10_000},
}
EVIDENCE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"type": "object", "properties": _EVIDENCE_FIELDS, "required": ["kind", "source", "note"]}
            },
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "description": "A file (at most 25 MB; 413 past that), a note, or both.",
                    "properties": _EVIDENCE_FIELDS | {"file": {"type": "string", "format": "binary"}},
                    "required": ["kind", "source"],
                }
            },
        },
    }
}


RAW_EMAIL_BODY = {
    "requestBody": {
        "required": True,
        "content": {"message/rfc822": {"schema": {"type": "string", "format": "binary"}}},
    }
}


def _invalid(err: ValidationError) -> ApiError:
    return ApiError(422, "invalid_request", errors.describe(err.errors()))


async def _json_evidence(request: Request) -> EvidenceAdd:
    """Evidence sent as JSON: a note (files come as multipart/form-data)."""
    try:
        evidence = EvidenceAdd.model_validate_json(await request.body())
    except ValidationError as err:
        raise _invalid(err) from None
    if evidence.file is not None:
        raise ApiError(422, "invalid_request", "file: upload files as multipart/form-data; JSON evidence is a note")
    return evidence


def _uploaded_evidence(upload: Upload) -> EvidenceAdd:
    fields: dict = dict(upload.fields)
    try:
        if upload.file is not None:
            fields["file"] = FileRef(
                sha256=upload.file.sha256,
                filename=upload.filename,
                content_type=upload.content_type,
                size_bytes=upload.file.size,
            )
        return EvidenceAdd.model_validate(fields)
    except ValidationError as err:
        raise _invalid(err) from None
