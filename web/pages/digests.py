"""The weekly digests in the browser: the list, and one digest as it was built (its KPIs and new signals).

Only the roles that may read KPIs (`Action.read_kpis`) see them, as through the API.
"""

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from rules.roles import permit
from schema.enums import Action
from service import digests
from web.door import session_of
from web.pages.signals import RULE_NAMES, SUBJECTS
from web.render import render

router = APIRouter()


@router.get("/digests")
async def digest_list(request: Request):
    permit(Action.read_kpis, session_of(request).actor.role)
    found = await run_in_threadpool(digests.recent, request.app.state.ctx.sessions, 52)
    return render(request, "digests.html", nav="digests", title="Weekly digests", found=found, digest=None)


@router.get("/digests/{digest_id}")
async def digest_page(request: Request, digest_id: str):
    permit(Action.read_kpis, session_of(request).actor.role)
    one = await run_in_threadpool(digests.get, request.app.state.ctx.sessions, digest_id)
    return render(
        request,
        "digests.html",
        nav="digests",
        title=f"Digest {one.week_start}",
        found=None,
        digest=one,
        rows=[one.body.kpis.total, *one.body.kpis.groups],
        rule_names=RULE_NAMES,
        subjects=SUBJECTS,
    )
