"""The intake inbox: email that names no claim, for a specialist to open a claim from or to dismiss.

`/inbox` lists the messages received (the inbox itself by default; every other state by filter, the
quarantined and refused with their reason); `/inbox/{id}` shows one, its text and attachments, with
the claim form pre-filled from it and a "Not a claim" form.
"""

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from api.errors import refusal
from rules.errors import DomainError
from rules.roles import permit
from schema.enums import Action, Channel, ClaimType, PayoutMethod
from schema.money import parse_amount
from service import inbox
from web import forms
from web.door import csrf_checked, session_of
from web.pages.opening import FIELD_FOR_CODE, FIELDS, _by_field
from web.render import render

router = APIRouter()
PAGE = 25


@router.get("/inbox")
async def messages(request: Request, state: str = "inbox", page: int = 1):
    me = session_of(request).actor
    permit(Action.open, me.role)
    chosen = inbox.MessageState(state) if state in {s.value for s in inbox.MessageState} else None
    number = max(page, 1)
    found = await run_in_threadpool(
        inbox.list_messages, request.app.state.ctx.sessions, me, chosen, PAGE, (number - 1) * PAGE
    )
    pages = max(1, -(-found.total // PAGE))
    return render(
        request, "inbox.html", nav="inbox", title="Inbox", page=found,
        state=state if chosen or state == "all" else "inbox",
        states=list(inbox.MessageState), number=number, pages=pages,
    )  # fmt: skip


async def _message_page(request: Request, message_id: int, status: int = 200, form=None, errors=None, done=None):
    ctx = request.app.state.ctx
    me = session_of(request).actor
    message = await inbox.get(ctx, me, message_id)
    policy = ctx.policy
    prefilled = {"customer_email": message.sender, "description": message.text or message.subject, "channel": "email"}
    return render(
        request, "message.html", status, nav="inbox", title=f"Message {message.id}", message=message,
        form=form if form is not None else prefilled, errors=errors or {},
        caps={t.value: policy.cap(t) for t in ClaimType}, types=list(ClaimType), channels=list(Channel),
        methods=list(PayoutMethod), currencies=policy.currencies, done=done,
    )  # fmt: skip


@router.get("/inbox/{message_id}")
async def message(request: Request, message_id: int, done: str | None = None):
    permit(Action.open, session_of(request).actor.role)
    return await _message_page(request, message_id, done=done)


@router.get("/inbox/{message_id}/attachments/{index}")
async def attachment(request: Request, message_id: int, index: int):
    me = session_of(request).actor
    found = await inbox.attachment(request.app.state.ctx, me, message_id, index)
    name = found.filename.replace('"', "")
    return Response(
        found.content,
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox; default-src 'none'",
        },
    )


@router.post("/inbox/{message_id}/claim")
async def open_claim(request: Request, message_id: int):
    form = await request.form()
    me = csrf_checked(request, form.get("csrf")).actor
    permit(Action.open, me.role)
    errors: dict[str, str] = {}
    fields = {name: forms.text(form, name) for name in FIELDS}
    fields["description"] = forms.text(form, "description")
    fields["customer_email"], fields["pro_email"] = forms.text(form, "customer_email"), forms.text(form, "pro_email")
    try:
        fields["amount_cents"] = parse_amount(fields.pop("amount") or "")
    except ValueError as err:
        errors["amount"] = str(err)
    method, destination = forms.text(form, "method"), forms.text(form, "destination")
    if method or destination:
        key = "charge_id" if method == PayoutMethod.refund else "account_id"
        fields["payout"] = {"method": method, key: destination}
    try:
        body = inbox.InboxClaimBody.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as err:
        found = _by_field(err)
        errors = {("destination" if f in ("account_id", "charge_id", "payout") else f): m for f, m in found.items()}
        errors |= {"amount": errors.pop("amount_cents")} if "amount_cents" in errors else {}
        body = None
    if errors or body is None:
        return await _message_page(request, message_id, 422, form, errors)
    try:
        opened = await inbox.open_claim(request.app.state.ctx, me, message_id, body)
    except DomainError as err:
        if err.code in ("forbidden", "not_found"):
            raise
        status = refusal(err).status
        return await _message_page(
            request, message_id, status, form, {FIELD_FOR_CODE.get(err.code, "form"): err.message}
        )
    return RedirectResponse(f"/cases/{opened.id}?done=opened", status_code=303)


@router.post("/inbox/{message_id}/dismiss")
async def dismiss(request: Request, message_id: int):
    form: FormData = await request.form()
    me = csrf_checked(request, form.get("csrf")).actor
    reason = forms.text(form, "reason")
    if not reason:
        return await _message_page(request, message_id, 422, errors={"reason": "say why it is not a claim"})
    try:
        await inbox.dismiss(request.app.state.ctx, me, message_id, inbox.DismissRequest(reason=reason[:2000]))
    except DomainError as err:
        if err.code in ("forbidden", "not_found"):
            raise
        return await _message_page(request, message_id, refusal(err).status, errors={"reason": err.message})
    return RedirectResponse(f"/inbox/{message_id}?done=dismissed", status_code=303)
