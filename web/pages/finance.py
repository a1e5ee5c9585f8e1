"""Finance in the browser: the payout ledger with totals, chart and CSV; reconciliations, their reports, findings.

Only the roles that may read finance (`Action.read_finance`) see these pages; anyone else gets a 403 page.
Every view is a GET with its filters in the URL, so it can be bookmarked and shared; starting a
reconciliation is the one form that changes anything, and it carries the session's CSRF token.
"""

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, StreamingResponse
from markupsafe import Markup
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from starlette.concurrency import run_in_threadpool

from api.errors import describe, refusal
from finance import ledger_report
from rules.errors import DomainError
from rules.roles import permit
from schema.bounds import Day
from schema.claims import Actor
from schema.enums import Action, ClaimType, PayoutStatus
from schema.finance import LedgerPage, LedgerTotal, ReconcileRequest, ReconciliationCounts
from schema.money import format_cents
from service import reconciliations
from web import charts
from web.door import csrf_checked, session_of
from web.render import render

router = APIRouter()
PAGE = 50
RECENT = 50
FINDINGS = 1_000  # shown on a report's page; the CSV has every one
KINDS = [k for k in ReconciliationCounts.model_fields if k not in ("matched", "no_money_moved")]


def _reader(request: Request) -> Actor:
    """The person signed in, if they may read finance; else a 403 page."""
    me = session_of(request).actor
    permit(Action.read_finance, me.role)
    return me


class LedgerQuery(BaseModel):
    """The ledger's filters as the form sends them: an empty field means no filter."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    date_from: Day | None = Field(None, alias="from")
    date_to: Day | None = Field(None, alias="to")
    status: PayoutStatus | None = None
    type: ClaimType | None = None
    page: int = Field(1, ge=1, le=100_000)

    @field_validator("*", mode="before")
    @classmethod
    def _blank(cls, value):
        return None if value == "" else value

    @model_validator(mode="after")
    def _ordered(self) -> "LedgerQuery":
        if self.date_from and self.date_to and self.date_to < self.date_from:
            raise ValueError("`to` is before `from`")
        return self

    def selection(self) -> ledger_report.LedgerFilter:
        return ledger_report.LedgerFilter(self.date_from, self.date_to, self.status, self.type)

    def filters(self) -> dict[str, str]:
        """The filters in force, as they go in a URL."""
        found = {"from": self.date_from, "to": self.date_to, "status": self.status, "type": self.type}
        return {k: str(getattr(v, "value", v)) for k, v in found.items() if v}


def _chosen(request: Request) -> LedgerQuery:
    try:
        return LedgerQuery.model_validate(dict(request.query_params))
    except ValidationError as err:
        raise DomainError("invalid_request", describe(err.errors())) from None


@router.get("/finance/ledger")
async def ledger(request: Request):
    _reader(request)
    typed = {k: request.query_params.get(k, "") for k in ("from", "to", "status", "type")}
    base = {"nav": "ledger", "title": "Ledger", "statuses": list(PayoutStatus), "types": list(ClaimType)}
    try:
        chosen = _chosen(request)
    except DomainError as err:
        return render(request, "ledger.html", refusal(err).status, problem=err.message, filters=typed, **base)
    ctx = request.app.state.ctx
    found = await run_in_threadpool(
        ledger_report.page, ctx.sessions, chosen.selection(), PAGE, (chosen.page - 1) * PAGE
    )
    filters = chosen.filters()
    return render(
        request,
        "ledger.html",
        **base,
        filters=filters,
        query=urlencode(filters),
        ledger=found,
        number=chosen.page,
        pages=max(1, -(-found.total // PAGE)),
        by_day=_summed(found.by_day),
        by_type=_summed(found.by_type),
        chart=_chart(found),
        problem=None,
    )


@router.get("/finance/ledger.csv")
async def ledger_csv(request: Request):
    """Every payout the filters select, as CSV, streamed from the database."""
    _reader(request)
    selection = _chosen(request).selection()
    sessions = request.app.state.ctx.sessions
    return StreamingResponse(
        ledger_report.csv_chunks(ledger_report.stream(sessions, selection)),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="payouts.csv"'},
    )


def _summed(totals: list[LedgerTotal]) -> list[dict]:
    """Per group and currency: the count and amount of each status, and of all together."""
    rows: dict[tuple, dict] = {}
    for t in totals:
        row = rows.setdefault(
            (t.group, t.currency), {"group": t.group, "currency": t.currency, "count": 0, "amount": 0}
        )
        row[t.status.value] = (t.count, t.amount_cents)
        row["count"] += t.count
        row["amount"] += t.amount_cents
    return list(rows.values())


def _chart(found: LedgerPage) -> Markup | None:
    """Paid amounts by day, one series per currency, as inline SVG with a title and a description."""
    days = sorted({t.group for t in found.by_day})
    if not days:
        return None
    paid: dict[str, dict[str, int]] = defaultdict(dict)
    for t in found.by_day:
        if t.status == PayoutStatus.paid:
            paid[t.currency][t.group] = t.amount_cents
    title = "Paid by day"
    chart = charts.bar(
        title,
        height=320,
        show_legend=len(paid) > 1,
        x_label_rotation=30,
        show_minor_x_labels=len(days) <= 14,
        x_labels_major_count=min(len(days), 10),
        value_formatter=lambda v: f"{v:,.2f}",
    )
    chart.x_labels = days
    for currency, amounts in sorted(paid.items()):
        chart.add(currency, [amounts.get(day, 0) / 100 for day in days])
    summary = "; ".join(
        f"{format_cents(sum(amounts.values()), currency)} paid over {len(amounts)} day(s)"
        for currency, amounts in sorted(paid.items())
    )
    desc = f"Bars of the amount paid each UTC day from {days[0]} to {days[-1]}. {summary or 'Nothing was paid.'}"
    return charts.accessible(chart, "chart", title, desc)


# Reconciliations


def _yesterday() -> str:
    return str((datetime.now(UTC) - timedelta(days=1)).date())


async def _reconciliations(request: Request, status: int = 200, **extra):
    ctx = request.app.state.ctx
    recent = await run_in_threadpool(reconciliations.recent, ctx.sessions, RECENT)
    form = {"from": _yesterday(), "to": _yesterday()}
    return render(
        request,
        "reconciliations.html",
        status,
        nav="reconciliations",
        title="Reconciliations",
        recent=recent,
        **({"form": form, "problem": None} | extra),
    )


@router.get("/finance/reconciliations")
async def list_reconciliations(request: Request):
    _reader(request)
    return await _reconciliations(request)


@router.post("/finance/reconciliations")
async def start_reconciliation(request: Request):
    """Start a reconciliation of whole UTC days, and go to its report; a refusal shows next to the form."""
    form = await request.form()
    me = csrf_checked(request, form.get("csrf")).actor
    permit(Action.read_finance, me.role)
    typed = {k: str(form.get(k) or "").strip() for k in ("from", "to")}
    try:
        asked = ReconcileRequest.model_validate(typed)
        started = await reconciliations.start(request.app.state.ctx, asked, me)
    except ValidationError as err:
        return await _reconciliations(request, 422, problem=describe(err.errors()), form=typed)
    except DomainError as err:
        return await _reconciliations(request, refusal(err).status, problem=err.message, form=typed)
    return RedirectResponse(f"/finance/reconciliations/{started.id}", status_code=303)


@router.get("/finance/reconciliations/{reconciliation_id}")
async def report(request: Request, reconciliation_id: str):
    _reader(request)
    sessions = request.app.state.ctx.sessions
    view = await run_in_threadpool(reconciliations.get, sessions, reconciliation_id, 0, 0)
    found = await run_in_threadpool(reconciliations.numbered, sessions, reconciliation_id, FINDINGS)
    grouped: dict[str, list] = {kind: [] for kind in KINDS}
    for f in found:
        grouped.setdefault(f.kind, []).append(f)
    return render(
        request,
        "reconciliation.html",
        nav="reconciliations",
        title=f"Reconciliation {view.id}",
        report=view,
        grouped={kind: items for kind, items in grouped.items() if items},
        shown=len(found),
        counts=view.counts.model_dump(),
        running=view.status == "running",
    )


@router.get("/finance/reconciliations/{reconciliation_id}/findings.csv")
async def report_csv(request: Request, reconciliation_id: str):
    _reader(request)
    sessions = request.app.state.ctx.sessions
    await run_in_threadpool(reconciliations.get, sessions, reconciliation_id, 0, 0)  # an unknown one is a 404
    return StreamingResponse(
        reconciliations.csv_chunks(sessions, reconciliation_id),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{reconciliation_id}.csv"'},
    )


@router.get("/finance/reconciliations/{reconciliation_id}/findings/{finding_id}")
async def finding(request: Request, reconciliation_id: str, finding_id: str):
    _reader(request)
    if not finding_id.isdigit() or len(finding_id) > 18:
        raise DomainError("not_found", f"reconciliation {reconciliation_id!r} has no finding {finding_id!r}")
    sessions = request.app.state.ctx.sessions
    detail = await run_in_threadpool(reconciliations.finding, sessions, reconciliation_id, int(finding_id))
    f = detail.finding
    return render(
        request,
        "finding.html",
        nav="reconciliations",
        title=f"Finding {f.id}: {f.kind.replace('_', ' ')}",
        detail=detail,
        f=f,
        ours=detail.ours,
        # the report keeps one currency per finding, the ledger's when it has one: the provider's may differ
        provider_currency=None if f.kind == "currency_mismatch" and f.ledger_amount_cents is not None else f.currency,
    )
