"""Evidence links: the claim page's section that makes and revokes them, and the page a link opens.

The link's page (`/e/{token}`) is public: the token is the only credential, and the page shows
nothing of the claim but its reference. Its form has no session to carry a CSRF token, so it
carries `check`, an HMAC (under the service's key) of the token and of when the page was served,
valid for `links.FORM_FOR`; and a post whose browser says it came from another site (Origin,
Sec-Fetch-Site) is refused. A refused link, a refused form or a refused upload changes nothing:
uploads are staged and discarded unless the claim accepted them.
"""

import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from api.errors import describe, refusal
from rules.errors import DomainError
from schema.claims import EvidenceAdd
from schema.enums import EvidenceKind, EvidenceSource
from service import links
from web import forms
from web.door import MAX_FILES, csrf_checked
from web.pages.cases import claim_page
from web.render import render
from web.uploads import staged_evidence

router = APIRouter()

# What a party may say their files are; a note alone is a note.
PARTY_KINDS = [
    EvidenceKind.photo,
    EvidenceKind.video,
    EvidenceKind.invoice,
    EvidenceKind.estimate,
    EvidenceKind.contract,
    EvidenceKind.message,
    EvidenceKind.other,
]
ASKED = {
    EvidenceSource.customer: "photos of the damage or of the work, invoices and receipts, the agreement with "
    "the pro, and messages with the pro about the job",
    EvidenceSource.pro: "photos of the work, invoices, estimates and contracts, and messages with the customer "
    "about the job",
}


# The claim page's section, for people who may add evidence to the claim.


@router.post("/cases/{claim_id}/links")
async def create(request: Request, claim_id: str):
    """A new link, shown once on the claim page (a redirect would lose its URL)."""
    form = await request.form()
    me = csrf_checked(request, form.get("csrf")).actor
    ctx = request.app.state.ctx
    try:
        days = forms.text(form, "days")
        body = {"party": forms.text(form, "party")} | ({"days": int(days)} if days and days.isdigit() else {})
        made = await links.create(ctx, claim_id, me, links.LinkRequest.model_validate(body), _base(request))
    except ValidationError as err:
        return await claim_page(request, claim_id, 422, problem=describe(err.errors()), form=form, failed="link")
    except DomainError as err:
        if err.code == "not_found":
            raise
        return await claim_page(request, claim_id, refusal(err).status, problem=err.message, form=form, failed="link")
    return await claim_page(request, claim_id, 201, new_link=made)


@router.post("/cases/{claim_id}/links/{link_id}/revoke")
async def revoke(request: Request, claim_id: str, link_id: int):
    form = await request.form()
    me = csrf_checked(request, form.get("csrf")).actor
    try:
        await links.revoke(request.app.state.ctx, claim_id, link_id, me)
    except DomainError as err:
        if err.code == "not_found":
            raise
        return await claim_page(request, claim_id, refusal(err).status, problem=err.message, failed="link")
    return RedirectResponse(f"/cases/{claim_id}?done=link_revoked", status_code=303)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


# The link's own page: the customer or the pro, signed in as no one.


def _refused(request: Request, err: DomainError):
    return render(request, "link_refused.html", refusal(err).status, title="Link", problem=err.message)


def _page(request: Request, token: str, link: links.OpenLink, status: int = 200, **extra):
    issued = int(time.time())
    return render(
        request,
        "link.html",
        status,
        title=f"Evidence for claim {link.claim_id}",
        link=link,
        token=token,
        asked=ASKED[link.party],
        kinds=PARTY_KINDS,
        max_files=MAX_FILES,
        issued=issued,
        check=links.form_check(request.app.state.ctx.signing_key, token, issued),
        **({"problem": None, "done": False, "form": {}} | extra),
    )


@router.get("/e/{token}")
async def link_page(request: Request, token: str, done: bool = False):
    try:
        link = await links.open_link(request.app.state.ctx, token)
    except DomainError as err:
        return _refused(request, err)
    return _page(request, token, link, done=done)


def _same_site(request: Request) -> bool:
    """Unless the browser says the post came from another site: a page elsewhere cannot post here."""
    if request.headers.get("sec-fetch-site") == "cross-site":
        return False
    origin = request.headers.get("origin")
    return not origin or urlsplit(origin).netloc == request.headers.get("host")


@router.post("/e/{token}")
async def link_upload(request: Request, token: str):
    """Each file one piece of evidence from the link's party, of the kind chosen; or a note alone."""
    ctx = request.app.state.ctx
    try:
        link = await links.open_link(ctx, token)  # before a byte of the body is read
    except DomainError as err:
        return _refused(request, err)
    try:
        form = await request.form(max_files=MAX_FILES)
    except HTTPException as err:
        return _page(request, token, link, 400, problem=str(err.detail))
    now = datetime.now(UTC)
    if not _same_site(request) or not links.form_ok(
        ctx.signing_key, token, forms.text(form, "check"), forms.text(form, "issued"), now
    ):
        return _page(request, token, link, 403, problem="This form was out of date. Please choose your files again.")
    files = [f for f in form.getlist("files") if isinstance(f, UploadFile) and f.filename]
    kind = forms.text(form, "kind") if files else EvidenceKind.note.value
    if files and kind not in PARTY_KINDS:
        kind = EvidenceKind.other.value
    base = {"kind": kind, "source": link.party.value, "note": forms.text(form, "note")}
    try:
        if not files:
            await links.add_evidence(ctx, link, EvidenceAdd.model_validate(base))
        for upload in files:
            evidence, staged = await staged_evidence(ctx, upload, base)
            await links.add_evidence(ctx, link, evidence, staged=staged)
    except ValidationError as err:
        return _page(request, token, link, 422, problem=describe(err.errors()), form=form)
    except DomainError as err:
        if err.code.startswith("link_"):
            return _refused(request, err)
        return _page(request, token, link, refusal(err).status, problem=err.message, form=form)
    return RedirectResponse(f"/e/{token}?done=1", status_code=303)
