"""The HTTP API of the interface contract: claim routes, users, health.

Reads come from the database; every change goes to the claim's workflow as an Update, which
answers only once the change is in the database, so the claim returned reflects it.
"""

from dataclasses import dataclass
from datetime import date
from typing import Annotated

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from sqlalchemy.orm import sessionmaker
from starlette.concurrency import run_in_threadpool
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api import errors, inputs, payout_details, queries, reconciliations
from api.auth import APPROVERS, CASEWORK, FINANCE, FINANCE_READERS, STAFF, allow, current_actor
from api.errors import ApiError
from api.evidence_store import EvidenceStore
from api.opening import OpenRejected, open_claim
from finance import ledger_report
from schema.claims import (
    Actor,
    ApprovalRequest,
    ClaimDetail,
    ClaimOpen,
    ClaimOpenBody,
    ClaimPage,
    DecisionRequest,
    EvidenceAdd,
    FileRef,
    PayoutCancel,
    PayoutDetails,
    PayoutRetry,
    WithdrawRequest,
)
from schema.enums import ClaimStatus, ClaimType, PayoutStatus
from schema.finance import LedgerPage, ReconcileRequest, ReconciliationView
from schema.policy import Policy
from workflows import rules
from workflows.claim import TASK_QUEUE, ClaimWorkflow, claim_id_of, workflow_id


@dataclass
class Services:
    client: Client
    sessions: sessionmaker
    policy: Policy
    evidence: EvidenceStore
    task_queue: str = TASK_QUEUE


def create_app(services: Services) -> FastAPI:
    app = FastAPI(title="Guarantee payouts", version="1", dependencies=[Depends(inputs.refuse_nul)])
    app.state.services = services
    errors.install(app)
    _routes(app)
    return app


def _services(request: Request) -> Services:
    return request.app.state.services


async def _claim_or_404(svc: Services, claim_id: str) -> ClaimDetail:
    claim = await run_in_threadpool(queries.get_claim, svc.sessions, claim_id)
    if claim is None:
        raise ApiError(404, "not_found", f"no claim {claim_id!r}")
    return claim


async def _act(svc: Services, claim_id: str, update, *args) -> ClaimDetail:
    """Send one human action to the claim's workflow and return the claim as it now stands."""
    claim = await _claim_or_404(svc, claim_id)
    if claim.status.is_final:
        raise ApiError(409, "invalid_state", f"the claim is {claim.status.value}; it can no longer change")
    handle = svc.client.get_workflow_handle(workflow_id(claim_id))
    try:
        await handle.execute_update(update, args=list(args))
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type:
            raise errors.rejection(cause.type, cause.message) from None
        raise ApiError(409, "invalid_state", "the claim changed while this action was applied; reload it") from None
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise ApiError(409, "invalid_state", "the claim's process has ended; it can no longer change") from None
        raise
    return await _claim_or_404(svc, claim_id)


async def _act_with_details(
    svc: Services, claim_id: str, details: PayoutDetails | None, update, actor: Actor, *args
) -> ClaimDetail:
    """An action that may bring new payout details: stored first, removed again if the claim refuses."""
    await _claim_or_404(svc, claim_id)
    ref = details and await run_in_threadpool(payout_details.store, svc.sessions, claim_id, details, actor)
    try:
        return await _act(svc, claim_id, update, actor, *args, ref)
    except ApiError:
        if ref:
            await run_in_threadpool(payout_details.discard, svc.sessions, ref)
        raise


Svc = Annotated[Services, Depends(_services)]
MAX_OFFSET = 10**9  # far beyond any list, well inside the databases' 64-bit OFFSET


def _routes(app: FastAPI) -> None:
    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/users/me")
    async def me(actor: Actor = Depends(current_actor)) -> Actor:
        return actor

    @app.post("/claims", status_code=201)
    async def create(body: ClaimOpenBody, svc: Svc, actor: Actor = Depends(allow(CASEWORK))) -> ClaimDetail:
        req = ClaimOpen.model_validate(body.model_dump(exclude={"payout"}))
        try:
            if body.payout:
                rules.check_payout_method(req.type, body.payout.method)
            handle = await open_claim(svc.client, svc.sessions, actor, req, svc.policy, task_queue=svc.task_queue)
        except OpenRejected as err:
            raise ApiError(422, err.code, str(err)) from None
        except ApplicationError as err:
            raise errors.rejection(err.type, err.message) from None
        claim_id = claim_id_of(handle.id)
        if body.payout:
            return await _act_with_details(svc, claim_id, body.payout, ClaimWorkflow.add_payout_details, actor)
        return await _claim_or_404(svc, claim_id)

    @app.get("/claims")
    async def list_(
        svc: Svc,
        actor: Actor = Depends(allow(STAFF)),
        status: ClaimStatus | None = None,
        type: ClaimType | None = None,
        assignee: str | None = None,
        awaiting: Annotated[str | None, Query(pattern="^me$")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    ) -> ClaimPage:
        return await run_in_threadpool(
            lambda: queries.list_claims(
                svc.sessions,
                actor=actor,
                status=status,
                type=type,
                assignee=assignee,
                awaiting_me=awaiting == "me",
                limit=limit,
                offset=offset,
            )
        )

    @app.get("/payouts", response_model=LedgerPage)
    async def payouts(
        request: Request,
        svc: Svc,
        actor: Actor = Depends(allow(FINANCE_READERS)),
        date_from: Annotated[date | None, Query(alias="from")] = None,
        date_to: Annotated[date | None, Query(alias="to")] = None,
        status: PayoutStatus | None = None,
        type: ClaimType | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    ):
        """The ledger; with `Accept: text/csv`, every matching payout as CSV (amounts in major units)."""
        if date_from and date_to and date_to < date_from:
            raise ApiError(422, "invalid_request", "`to` is before `from`")
        selection = ledger_report.LedgerFilter(date_from, date_to, status, type)
        if "text/csv" in request.headers.get("accept", ""):
            return StreamingResponse(
                ledger_report.csv_chunks(ledger_report.stream(svc.sessions, selection)),
                media_type="text/csv",
                headers={"Content-Disposition": 'attachment; filename="payouts.csv"'},
            )
        return await run_in_threadpool(ledger_report.page, svc.sessions, selection, limit, offset)

    @app.post("/reconciliations", status_code=202)
    async def start_reconciliation(
        body: ReconcileRequest, svc: Svc, actor: Actor = Depends(allow(FINANCE_READERS))
    ) -> ReconciliationView:
        """Starts a reconciliation of whole UTC days; read its report at GET /reconciliations/{id}."""
        if body.requested_by is not None:
            raise ApiError(422, "invalid_request", "requested_by: set by the server")
        run_id = await reconciliations.start(svc.client, svc.sessions, body, actor, svc.task_queue)
        return await run_in_threadpool(reconciliations.get, svc.sessions, run_id, 0, 0)

    @app.get("/reconciliations")
    async def list_reconciliations(
        svc: Svc,
        actor: Actor = Depends(allow(FINANCE_READERS)),
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> list[ReconciliationView]:
        return await run_in_threadpool(reconciliations.recent, svc.sessions, limit)

    @app.get("/reconciliations/{reconciliation_id}", response_model=ReconciliationView)
    async def get_reconciliation(
        reconciliation_id: str,
        request: Request,
        svc: Svc,
        actor: Actor = Depends(allow(FINANCE_READERS)),
        limit: Annotated[int, Query(ge=0, le=5_000)] = 1_000,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    ):
        """The report and its discrepancies (paged); with `Accept: text/csv`, every discrepancy as CSV."""
        report = await run_in_threadpool(reconciliations.get, svc.sessions, reconciliation_id, limit, offset)
        if report is None:
            raise ApiError(404, "not_found", f"no reconciliation {reconciliation_id!r}")
        if "text/csv" in request.headers.get("accept", ""):
            return StreamingResponse(
                reconciliations.csv_chunks(svc.sessions, reconciliation_id),
                media_type="text/csv",
                headers={"Content-Disposition": f'attachment; filename="{reconciliation_id}.csv"'},
            )
        return report

    @app.get("/claims/{claim_id}")
    async def get(claim_id: str, svc: Svc, actor: Actor = Depends(allow(STAFF))) -> ClaimDetail:
        return await _claim_or_404(svc, claim_id)

    @app.post("/claims/{claim_id}/evidence", status_code=201)
    async def add_evidence(
        claim_id: str, request: Request, svc: Svc, actor: Actor = Depends(allow(CASEWORK))
    ) -> ClaimDetail:
        evidence = await _read_evidence(request, svc.evidence)
        return await _act(svc, claim_id, ClaimWorkflow.add_evidence, actor, evidence)

    @app.post("/claims/{claim_id}/evidence/complete")
    async def complete_evidence(claim_id: str, svc: Svc, actor: Actor = Depends(allow(CASEWORK))) -> ClaimDetail:
        return await _act(svc, claim_id, ClaimWorkflow.complete_evidence, actor)

    @app.post("/claims/{claim_id}/decision")
    async def decide(
        claim_id: str, req: DecisionRequest, svc: Svc, actor: Actor = Depends(allow(CASEWORK))
    ) -> ClaimDetail:
        return await _act(svc, claim_id, ClaimWorkflow.decide, actor, req)

    @app.post("/claims/{claim_id}/approval")
    async def approve(
        claim_id: str, req: ApprovalRequest, svc: Svc, actor: Actor = Depends(allow(APPROVERS))
    ) -> ClaimDetail:
        return await _act(svc, claim_id, ClaimWorkflow.review, actor, req)

    @app.put("/claims/{claim_id}/payout-details")
    async def set_payout_details(
        claim_id: str, details: PayoutDetails, svc: Svc, actor: Actor = Depends(allow(CASEWORK))
    ) -> ClaimDetail:
        return await _act_with_details(svc, claim_id, details, ClaimWorkflow.add_payout_details, actor)

    @app.post("/claims/{claim_id}/payout/retry")
    async def retry_payout(
        claim_id: str, req: PayoutRetry, svc: Svc, actor: Actor = Depends(allow(FINANCE))
    ) -> ClaimDetail:
        return await _act_with_details(svc, claim_id, req.payout, ClaimWorkflow.retry_payout, actor, req.reason)

    @app.post("/claims/{claim_id}/payout/cancel")
    async def cancel_payout(
        claim_id: str, req: PayoutCancel, svc: Svc, actor: Actor = Depends(allow(FINANCE))
    ) -> ClaimDetail:
        return await _act(svc, claim_id, ClaimWorkflow.cancel_payout, actor, req.reason)

    @app.post("/claims/{claim_id}/withdraw")
    async def withdraw(
        claim_id: str, req: WithdrawRequest, svc: Svc, actor: Actor = Depends(allow(CASEWORK))
    ) -> ClaimDetail:
        return await _act(svc, claim_id, ClaimWorkflow.withdraw, actor, req)


async def _read_evidence(request: Request, store: EvidenceStore) -> EvidenceAdd:
    """Evidence as JSON (a note) or as a multipart upload with `file`, `kind`, `source`, `note`."""
    content_type = request.headers.get("content-type", "")
    try:
        if content_type.startswith("multipart/form-data"):
            form = await request.form()
            upload = form.get("file")
            fields = {k: v for k, v in form.items() if k != "file" and isinstance(v, str)}
            if upload is not None and not isinstance(upload, str):
                content_type = upload.content_type or "application/octet-stream"
                if len(content_type) > 200:
                    raise ApiError(422, "invalid_request", "file: its content type is longer than 200 characters")
                content = await upload.read()
                sha256 = await run_in_threadpool(store.put, content)
                fields["file"] = FileRef(
                    sha256=sha256,
                    filename=upload.filename or "upload",
                    content_type=content_type,
                    size_bytes=len(content),
                )
            return EvidenceAdd.model_validate(fields)
        evidence = EvidenceAdd.model_validate_json(await request.body())
        if evidence.file is not None:
            raise ApiError(422, "invalid_request", "file: upload files as multipart/form-data; JSON evidence is a note")
        return evidence
    except ValidationError as err:
        raise ApiError(422, "invalid_request", errors.describe(err.errors())) from None
    except ValueError as err:
        raise ApiError(422, "invalid_request", str(err)) from None
