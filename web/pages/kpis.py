"""The KPI report in the browser: a period and a breakdown in the URL, charts drawn on the server, the tables.

Only the roles that may read KPIs (`Action.read_kpis`) see it. Charts are pygal SVG inline, each with a
title and a description that says what it shows, and the tables below carry the same figures.
"""

import pygal
from fastapi import APIRouter, Request
from markupsafe import Markup
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from api.errors import refusal
from rules.errors import DomainError
from rules.roles import permit
from schema.bounds import Day
from schema.enums import Action
from schema.kpis import Breakdown, Figures, KpiReport
from service import kpis
from web import charts
from web.door import session_of
from web.render import render

router = APIRouter()
COUNTS = ("opened", "resolved", "paid", "denied", "withdrawn", "closed_no_evidence", "mediated")
CYCLE_NAMES = {
    "open_to_decision": "Opened → decision",
    "decision_to_approval": "Decision → approval",
    "approval_to_paid": "Approval → paid",
    "open_to_final": "Opened → final",
}
BREAKDOWNS = {
    "none": "No breakdown",
    "type": "Claim type",
    "channel": "Channel",
    "tier": "Approval tier",
    "specialist": "Specialist",
    "week": "Week",
}


def _day(value: str) -> object:
    from pydantic import TypeAdapter

    return TypeAdapter(Day).validate_python(value) if value else None


@router.get("/kpis")
async def kpi_page(request: Request):
    permit(Action.read_kpis, session_of(request).actor.role)
    typed = {k: request.query_params.get(k, "") for k in ("from", "to", "by")}
    base = {"nav": "kpis", "title": "KPIs", "breakdowns": BREAKDOWNS, "cycle_names": CYCLE_NAMES}
    try:
        by = Breakdown(typed["by"] or "none")
        period = kpis.period(_day(typed["from"]), _day(typed["to"]))
    except (ValueError, ValidationError, DomainError) as err:
        message = err.message if isinstance(err, DomainError) else _why(err)
        status = refusal(err).status if isinstance(err, DomainError) else 422
        return render(request, "kpis.html", status, problem=message, filters=typed, found=None, **base)
    ctx = request.app.state.ctx
    found = await run_in_threadpool(kpis.report, ctx.sessions, period.date_from, period.date_to, by)
    filters = {"from": str(period.date_from), "to": str(period.date_to), "by": by.value}
    return render(
        request,
        "kpis.html",
        **base,
        filters=filters,
        found=found,
        rows=[found.total, *found.groups],
        counts_chart=_counts_chart(found),
        cycle_chart=_cycle_chart(found),
        problem=None,
    )


def _why(err: Exception) -> str:
    if isinstance(err, ValidationError):
        return "; ".join(e["msg"].removeprefix("Value error, ") for e in err.errors())
    return f"choose a breakdown: {', '.join(BREAKDOWNS)}"


def _rows(found: KpiReport) -> list[Figures]:
    return found.groups or [found.total]


def _counts_chart(found: KpiReport) -> Markup:
    rows = _rows(found)
    chart = _bar("Claims by outcome", rows)
    for name in COUNTS:
        chart.add(name.replace("_", " "), [getattr(r, name) for r in rows])
    summary = "; ".join(f"{r.label}: {r.opened} opened, {r.resolved} resolved, {r.paid} paid" for r in rows[:12])
    what = (
        "Bars of the claims opened, resolved, paid, denied, withdrawn, closed without evidence and resolved by "
        "mediation, per group."
    )
    desc = f"{what} {summary}."
    return charts.accessible(chart, "kpi-counts", "Claims by outcome", desc)


def _cycle_chart(found: KpiReport) -> Markup:
    rows = _rows(found)
    chart = _bar("Median cycle times (hours)", rows)
    chart.value_formatter = lambda v: f"{v:,.1f} h"
    for name, label in CYCLE_NAMES.items():
        chart.add(label, [_hours(r.cycle_times[name].p50_seconds) for r in rows])
    parts = []
    for r in rows[:12]:
        t = r.cycle_times["open_to_final"]
        parts.append(f"{r.label}: opened to final p50 {_text_hours(t.p50_seconds)}, p90 {_text_hours(t.p90_seconds)}")
    desc = f"Bars of the median hours between milestones, per group. {'; '.join(parts)}."
    return charts.accessible(chart, "kpi-cycles", "Median cycle times (hours)", desc)


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 1)


def _text_hours(seconds: float | None) -> str:
    return "none" if seconds is None else f"{seconds / 3600:,.1f} h"


def _bar(title: str, rows: list[Figures]) -> pygal.Bar:
    chart = charts.bar(title, height=340, x_label_rotation=20 if len(rows) > 4 else 0, legend_at_bottom=True)
    chart.x_labels = [r.label for r in rows]
    return chart
