"""Each person's home: what waits on them, most urgent first."""

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from rules import authority
from rules.roles import CASEWORK
from schema.enums import ClaimStatus, Role
from service import queues, reconciliations, referrals
from web.door import session_of
from web.render import render

router = APIRouter()
ANSWERS_SHOWN = timedelta(days=14)  # how long an answered referral stays on its asker's home


@router.get("/")
async def home(request: Request):
    me = session_of(request).actor
    sessions = request.app.state.ctx.sessions

    def gather() -> dict:
        found: dict = {}
        if authority.tiers_for(me.role) and me.role != Role.finance:
            found["approvals"] = queues.approvals(sessions, me)
        if me.role in CASEWORK:
            found["casework"] = queues.casework(sessions, me)
            recent = datetime.now(UTC) - ANSWERS_SHOWN
            found["asked"] = [
                r
                for r in referrals.listed(sessions, me, referred_by=me.user_id)
                if r.answered_at is None or r.answered_at > recent
            ]
        if me.role == Role.finance:
            found["approvals"] = queues.approvals(sessions, me)
            found["to_settle"] = queues.with_status(sessions, ClaimStatus.payout_failed)
            found["reconciliation"] = next(iter(reconciliations.recent(sessions, 1)), None)
        if me.role == Role.legal:
            found["held"] = queues.held(sessions)
            found["approvals"] = queues.approvals(sessions, me)
        if me.role in (Role.finance, Role.admin):
            found["stuck"] = queues.stuck(sessions)
        return found

    return render(request, "home.html", nav="home", title="My work", **await run_in_threadpool(gather))
