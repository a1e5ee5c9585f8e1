"""Opening a claim from a call or an email: one form with the fields of `POST /claims` and the payout details.

A refusal is shown next to the field it belongs to, in the API's own words, with everything the
person typed kept; the claim type's cap follows the type chosen.
"""

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from starlette.datastructures import FormData

from api.errors import refusal
from rules.errors import DomainError
from rules.roles import permit
from schema.claims import ClaimOpen, Contacts, PayoutDetails
from schema.enums import Action, Channel, ClaimType, PayoutMethod
from schema.money import parse_amount
from service import claims
from web import forms
from web.door import csrf_checked, session_of
from web.render import render

router = APIRouter()

FIELDS = ("customer_id", "pro_id", "project_id", "type", "amount", "currency", "incident_date", "channel")
# Where a rule's refusal belongs on the form; anything else is shown above it.
FIELD_FOR_CODE = {
    "invalid_amount": "amount",
    "amount_too_large": "amount",
    "unsupported_currency": "currency",
    "incident_in_future": "incident_date",
    "invalid_payout_method": "method",
}


def _page(request: Request, status: int = 200, form: FormData | dict | None = None, errors: dict | None = None):
    policy = request.app.state.ctx.policy
    caps = {t.value: policy.cap(t) for t in ClaimType}
    return render(
        request,
        "open.html",
        status,
        nav="open",
        title="Open a claim",
        form=form or {},
        errors=errors or {},
        caps=caps,
        types=list(ClaimType),
        channels=list(Channel),
        methods=list(PayoutMethod),
        currencies=policy.currencies,
    )


@router.get("/cases/new")
async def blank(request: Request):
    permit(Action.open, session_of(request).actor.role)
    return _page(request)


@router.post("/cases/new")
async def open_claim(request: Request):
    form = await request.form()
    me = csrf_checked(request, form.get("csrf")).actor
    permit(Action.open, me.role)
    errors: dict[str, str] = {}
    fields = {name: forms.text(form, name) for name in FIELDS}
    fields["description"] = forms.text(form, "description")
    try:
        fields["amount_cents"] = parse_amount(fields.pop("amount") or "")
    except ValueError as err:
        errors["amount"] = str(err)
    try:
        claim = ClaimOpen.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as err:
        errors = _by_field(err) | errors
        claim = None
    method, destination = forms.text(form, "method"), forms.text(form, "destination")
    details = None
    if method or destination:
        key = "charge_id" if method == PayoutMethod.refund else "account_id"
        try:
            details = PayoutDetails.model_validate({"method": method, key: destination})
        except ValidationError as err:
            errors = {("method" if f == "method" else "destination"): m for f, m in _by_field(err).items()} | errors
    try:
        contacts = Contacts(customer_email=forms.text(form, "customer_email"), pro_email=forms.text(form, "pro_email"))
    except ValidationError as err:
        errors = _by_field(err) | errors
    if errors or claim is None:
        return _page(request, 422, form, errors)
    try:
        opened = await claims.open_claim(request.app.state.ctx, me, claim, details, contacts=contacts)
    except DomainError as err:
        if err.code in ("forbidden", "insufficient_authority"):
            raise
        return _page(request, refusal(err).status, form, {FIELD_FOR_CODE.get(err.code, "form"): err.message})
    return RedirectResponse(f"/cases/{opened.id}?done=opened", status_code=303)


def _by_field(err: ValidationError) -> dict[str, str]:
    """Pydantic's errors keyed by the form field they belong to, first one per field."""
    found: dict[str, str] = {}
    for problem in err.errors():
        where = next((str(p) for p in problem.get("loc", ()) if isinstance(p, str)), "form")
        where = "amount" if where == "amount_cents" else where
        message = str(problem.get("msg")).removeprefix("Value error, ")
        if problem.get("type") == "missing":
            message = "fill this in"
        found.setdefault(where, message)
    return found
