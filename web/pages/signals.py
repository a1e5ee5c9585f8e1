"""The risk signals in the browser: each rule that holds, its threshold, whom it is about and the claims it touches.

Only the roles that may read KPIs (`Action.read_kpis`) see it. `?at=YYYY-MM-DD` reads the signals as they
stood at the end of that UTC day; without it, now.
"""

from datetime import UTC, datetime, time

from fastapi import APIRouter, Request
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from rules.roles import permit
from schema.bounds import Day
from schema.enums import Action
from schema.signals import load_signal_rules
from service import signals
from web.door import session_of
from web.render import render

router = APIRouter()

RULE_NAMES = {
    "pro_claims": "Pro with many claims",
    "repeat_customer": "Repeat customer",
    "type_surge": "Claim type surging",
    "near_tier_limit": "Approvals just under a tier's limit",
    "project_claims": "Many claims on one project",
}
SUBJECTS = {
    "pro_claims": "Pro",
    "repeat_customer": "Customer",
    "type_surge": "Claim type",
    "near_tier_limit": "Decided by",
    "project_claims": "Project",
}


@router.get("/signals")
async def signal_page(request: Request):
    permit(Action.read_kpis, session_of(request).actor.role)
    typed = request.query_params.get("at", "")
    base = {"nav": "signals", "title": "Signals", "rule_names": RULE_NAMES, "subjects": SUBJECTS, "at": typed}
    try:
        day = TypeAdapter(Day).validate_python(typed) if typed else None
    except ValidationError as err:
        problem = "; ".join(e["msg"].removeprefix("Value error, ") for e in err.errors())
        return render(request, "signals.html", 422, problem=problem, found=None, **base)
    now = datetime.now(UTC) if day is None else datetime.combine(day, time(23, 59, 59), tzinfo=UTC)
    ctx = request.app.state.ctx
    found = await run_in_threadpool(signals.find, ctx.sessions, ctx.policy, load_signal_rules(), now)
    return render(request, "signals.html", problem=None, found=found, **base)
