"""Referrals for the teams they were handed to: a team's queue, oldest first, to take and answer."""

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from starlette.concurrency import run_in_threadpool

from api.errors import describe, refusal
from rules.errors import DomainError
from rules.roles import permit
from schema.enums import Action, ReferralStatus, Team
from schema.referrals import ReferralAnswer
from service import referrals, users
from web.door import csrf_checked, session_of
from web.render import render

router = APIRouter()


class Filters(BaseModel):
    model_config = ConfigDict(extra="ignore")

    team: Team | None = None
    status: ReferralStatus | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _blank(cls, value):
        return None if value == "" else value


async def _page(request: Request, status: int = 200, **extra):
    me = session_of(request).actor
    permit(Action.handle_referral, me.role)
    try:
        chosen = Filters.model_validate(dict(request.query_params))
    except ValidationError as err:
        raise DomainError("invalid_request", describe(err.errors())) from None
    sessions = request.app.state.ctx.sessions
    found = await run_in_threadpool(lambda: referrals.listed(sessions, me, chosen.team, chosen.status))
    names = await run_in_threadpool(users.names, sessions, {r.referred_by for r in found} | {r.owner for r in found})
    return render(
        request,
        "handoffs.html",
        status,
        nav="handoffs",
        title="Referrals",
        referrals=found,
        chosen=chosen,
        names=names,
        teams=list(Team),
        statuses=list(ReferralStatus),
        **({"problem": None, "failed": None, "done": request.query_params.get("done")} | extra),
    )


@router.get("/team-referrals")
async def queue(request: Request):
    return await _page(request)


async def _handle(request: Request, referral_id: int, action: str, call):
    form = await request.form()
    me = csrf_checked(request, form.get("csrf")).actor
    try:
        await run_in_threadpool(call, request.app.state.ctx.sessions, me, form)
    except ValidationError as err:
        return await _page(request, 422, problem=describe(err.errors()), failed=referral_id)
    except DomainError as err:
        if err.code == "not_found":
            raise
        return await _page(request, refusal(err).status, problem=err.message, failed=referral_id)
    back = request.url.query
    return RedirectResponse(f"/team-referrals?{back + '&' if back else ''}done={action}", status_code=303)


@router.post("/team-referrals/{referral_id}/take")
async def take(request: Request, referral_id: int):
    return await _handle(request, referral_id, "taken", lambda s, me, form: referrals.take(s, referral_id, me))


@router.post("/team-referrals/{referral_id}/answer")
async def answer(request: Request, referral_id: int):
    def call(sessions, me, form):
        reply = ReferralAnswer.model_validate({"answer": (form.get("answer") or "").strip()})
        referrals.answer(sessions, referral_id, me, reply)

    return await _handle(request, referral_id, "answered", call)
