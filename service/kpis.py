"""The KPI report, read from the database (the system of record), never from Temporal.

Every figure belongs to the moment its event happened: a claim counts as opened in the period if
it was opened in it, as paid if its `paid` event is in it, and so on. A range is whole UTC days,
both ends included. The `week` breakdown cuts the period into ISO weeks (Monday first); the other
breakdowns split the claims by a property of the claim and keep the whole period.

The activity that records a claim's events keeps its milestones on the claim row (first and last
decision, first review, first and last confirmation, last approval, paid, final). So, whatever the
number of claims, the report is one pass over the claims touched in the period and one over each of
its events (reviews, SLA breaches, denials), its payouts and the discrepancies found. SQL counts and
sums them per group (a property of the claim, or the week of each moment) and hands over the
durations of the cycle times as one text per group; Python adds the groups up into the total and
takes the percentiles.
"""

import csv
import io
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from pydantic import ValidationError
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Float,
    String,
    case,
    cast,
    func,
    literal,
    select,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import sessionmaker
from sqlalchemy.sql.functions import FunctionElement

from rules.errors import DomainError
from schema import tables
from schema.enums import ClaimStatus
from schema.finance import DateRange
from schema.kpis import Amounts, Breakdown, CycleTime, Figures, KpiReport

DEFAULT_DAYS = 7
REVIEWS = ("approved", "denied", "sent_back")  # approved and denied confirm the decision: it stands
EVENTS = (*REVIEWS, "sla_breached", "escalated")
CYCLES = ("open_to_decision", "decision_to_approval", "approval_to_paid", "open_to_final")
CYCLE_OF = {  # the cycle time each figure's moment ends
    "decided": "open_to_decision",
    "confirmed": "decision_to_approval",
    "paid": "approval_to_paid",
    "final": "open_to_final",
}
BREACH_KINDS = ("decision", "approval")
WEEK = timedelta(days=7)

DEFINITIONS = {
    "period": "whole UTC days, both ends included; each figure counts the events that happened in it",
    "opened": "claims opened in the period",
    "resolved": "claims that reached a final state (paid, denied, withdrawn, closed_no_evidence, payout_cancelled, "
    "resolved_by_mediation)",
    "mediated": "claims resolved by mediation in the period: the customer said the parties' agreement was kept, "
    "or its follow-up day ended without a complaint; no payout",
    "cycle_times": "open_to_decision: opening to the first decision; decision_to_approval: the last decision to "
    "the review that confirmed it (approved or denied); approval_to_paid: the last approval to the payout; "
    "open_to_final: opening to the final state. Each over the claims whose later milestone is in the period; "
    "p50 and p90 by the nearest-rank method, in seconds",
    "sla_breaches": "SLA breaches recorded in the period, by kind (decision; approval, including escalations)",
    "breach_share": "of the claims resolved in the period, the share with at least one SLA breach in their life",
    "first_review_approval_rate": "of the claims whose first review was in the period, the share whose first "
    "review confirmed the decision (approved or denied) rather than sending it back",
    "send_back_rate": "send-backs over all reviews (send-backs and confirmations) in the period",
    "amounts": "per currency: claimed by the claims opened, approved by the claims approved, paid by the payouts "
    "paid in the period",
    "paid_to_claimed_ratio": "the mean, over the claims paid in the period, of paid over claimed",
    "denials_by_reason": "claims denied in the period, by reason code",
    "payout_failures": "payout attempts the provider refused in the period, by its error code",
    "discrepancies_by_kind": "distinct discrepancies found by reconciliations finished in the period, by kind",
    "tier": "the approval tier the decision required (none before a decision)",
    "specialist": "who decided the claim, or, before a decision, who opened it",
}


class micros(FunctionElement):
    """The microseconds from one timestamp to a later one, exact on both databases: durations and weeks in SQL."""

    type = BigInteger()
    inherit_cache = True


@compiles(micros, "postgresql")
def _micros_postgresql(element, compiler, **kw):
    since, until = (compiler.process(clause, **kw) for clause in element.clauses)
    # date_part's double (cheaper than EXTRACT's numeric) is within a fraction of a microsecond: rounded, exact.
    return f"CAST(date_part('epoch', {until} - {since}) * 1000000 AS BIGINT)"


@compiles(micros, "sqlite")
def _micros_sqlite(element, compiler, **kw):
    # SQLite keeps the text 'YYYY-MM-DD HH:MM:SS.ffffff': whole seconds since 1970, then the microseconds.
    since, until = (
        f"(CAST(strftime('%s', {at}) AS INTEGER) * 1000000 + CAST(substr({at}, 21, 6) AS INTEGER))"
        for at in (compiler.process(clause, **kw) for clause in element.clauses)
    )
    return f"({until} - {since})"


@dataclass
class Tally:
    """One group's moments as the query counts them: per figure, by label (a currency, a status, a reason...)."""

    n: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))  # moments
    # Cents (claimed, approved, paid), or the claims that also meet a second test (breached, confirmed first).
    value: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    ratio: float = 0.0  # the sum of paid over claimed, of the claims paid
    spans: dict[str, list[float]] = field(default_factory=lambda: {name: [] for name in CYCLES})  # microseconds
    found: dict[str, set] = field(default_factory=lambda: defaultdict(set))  # discrepancies' identities, by kind

    def add(self, figure: str, label: str | None, n: int, value: int | None, ratio: float | None, spans: list):
        self.n[figure][label] += n
        self.value[figure][label] += int(value or 0)  # PostgreSQL sums integers as numeric
        self.ratio += ratio or 0.0
        if spans:
            self.spans[CYCLE_OF[figure]] += spans


def period(date_from: date | None, date_to: date | None, today: date | None = None) -> DateRange:
    """The days asked for: `to` defaults to today (UTC), `from` to six days before `to`; a refusal names the problem."""
    date_to = date_to or today or datetime.now(UTC).date()
    date_from = date_from or date_to - timedelta(days=DEFAULT_DAYS - 1)
    try:
        return DateRange(date_from=date_from, date_to=date_to)
    except ValidationError as err:
        reasons = "; ".join(e["msg"].removeprefix("Value error, ") for e in err.errors())
        raise DomainError("invalid_request", reasons) from None


def day_bounds(date_from: date, date_to: date) -> tuple[datetime, datetime]:
    start = datetime.combine(date_from, time(), tzinfo=UTC)
    return start, datetime.combine(date_to + timedelta(days=1), time(), tzinfo=UTC)


def report(sessions: sessionmaker, date_from: date, date_to: date, by: Breakdown = Breakdown.none) -> KpiReport:
    start, end = day_bounds(date_from, date_to)
    with sessions() as db:
        total, tallied = tallies(db.connection(), by, start, end)
        people = select(tables.User.id, tables.User.name).where(tables.User.id.in_(list(tallied)))
        names = dict(db.execute(people).all()) if by == Breakdown.specialist else {}
    return KpiReport(
        date_from=date_from,
        date_to=date_to,
        by=by,
        total=figures(total, "all", "All claims"),
        groups=list(groups(by, start, end, tallied, names)),
        definitions=DEFINITIONS,
    )


def groups(by: Breakdown, start: datetime, end: datetime, tallied: dict, names: dict[str, str]) -> Iterable[Figures]:
    if by == Breakdown.none:
        return
    if by == Breakdown.week:  # every week of the period, even a quiet one
        first = monday(start)
        for number in range(-(-(end - first).days // 7)):
            week = (first + number * WEEK).date().isoformat()
            yield figures(tallied.get(number, Tally()), week, f"week of {week}")
        return
    for name in sorted(tallied):
        yield figures(tallied[name], name, names.get(name, name))


def monday(start: datetime) -> datetime:
    """The start of the ISO week of `start`: the week breakdown's first week."""
    return datetime.combine(start.date() - timedelta(days=start.weekday()), time(), tzinfo=UTC)


# The group of a moment, for the breakdowns by a property of its claim.
GROUP_OF = {
    Breakdown.type: tables.Claim.type,
    Breakdown.channel: tables.Claim.channel,
    Breakdown.tier: func.coalesce(tables.Claim.required_tier, "none"),
    Breakdown.specialist: func.coalesce(tables.Claim.decided_by, tables.Claim.opened_by),
}


def tallies(db: Connection, by: Breakdown, start: datetime, end: datetime) -> tuple[Tally, dict[object, Tally]]:
    """The total and each group's tally. Each query answers a row per group (`keys`) and label; the total adds
    the groups up."""
    c, a, p = tables.Claim, tables.AuditEntry, tables.Payout
    first = monday(start)
    total, tallied = Tally(), defaultdict(Tally)

    def inside(at) -> ColumnElement:
        return (at >= start) & (at < end)

    def week(at) -> ColumnElement:
        return micros(literal(first, tables.UtcDateTime()), at) // _us(WEEK)

    def keys(**moments) -> list:
        """What a query groups by, besides its labels: the claim's key, or the week of each moment."""
        if by in GROUP_OF:
            return [GROUP_OF[by].label("key")]
        if by == Breakdown.week:
            return [case((inside(at), week(at))).label(name) for name, at in moments.items()]
        return []

    def counted(row, moment: str) -> tuple[Tally, ...]:
        """The tallies a row's moment counts in: the total, and its group's (in none for no breakdown)."""
        group = row["key"] if by in GROUP_OF else row[moment] if by == Breakdown.week else None
        return (total,) if group is None else (total, tallied[group])

    def add(row, moment: str, figure: str, label, n: int, value=None, ratio=None, spans: str | None = None) -> None:
        durations = list(map(float, spans.split(","))) if spans else []
        for tally in counted(row, moment):
            tally.add(figure, label, n, value, ratio, durations)

    # The claims touched in the period, by currency and status: each milestone in it counted, its amounts and
    # the cycle it ends (in microseconds, as one text) added up. A claim touched makes its group.
    touched = (c.opened_at < end) & (c.updated_at >= start)
    confirmed = case((c.last_decided_at <= c.last_confirmed_at, c.last_confirmed_at))  # confirms the last decision
    moments = {
        "opened": c.opened_at,
        "final": c.final_at,
        "decided": c.first_decided_at,
        "confirmed": confirmed,
        "approval": c.last_approved_at,  # the last: its amount stands
        "paid": c.paid_at,
        "reviewed": c.first_reviewed_at,
    }
    values = {
        "opened": c.amount_cents,
        "final": case((func.coalesce(func.json_array_length(c.sla_breaches), 0) > 0, 1), else_=0),  # breached
        "approval": func.coalesce(c.approved_amount_cents, 0),
        "reviewed": case((c.first_confirmed_at == c.first_reviewed_at, 1), else_=0),  # the decision stood
    }
    spans = {
        "final": micros(c.opened_at, c.final_at),
        "decided": micros(c.opened_at, c.first_decided_at),
        "confirmed": micros(c.last_decided_at, confirmed),
        "paid": case((c.last_approved_at <= c.paid_at, micros(c.last_approved_at, c.paid_at))),
    }
    labels = {"opened": "currency", "approval": "currency", "final": "status"}
    grouping = [*keys(**moments), c.currency, c.status]
    claims = select(
        *grouping,
        *(func.count().filter(inside(at)).label(f"{name}_n") for name, at in moments.items()),
        *(func.sum(v).filter(inside(moments[name])).label(f"{name}_value") for name, v in values.items()),
        *(
            func.aggregate_strings(cast(us, String), ",").filter(inside(moments[name])).label(f"{name}_spans")
            for name, us in spans.items()
        ),
    )
    for row in db.execute(claims.where(touched).group_by(*grouping)).mappings():
        if by in GROUP_OF:
            tallied.setdefault(row["key"], Tally())
        for name in moments:
            if row[f"{name}_n"]:
                label = row[labels[name]] if name in labels else None
                add(row, name, name, label, row[f"{name}_n"], row.get(f"{name}_value"), None, row.get(f"{name}_spans"))

    # The events: reviews (approved and denied confirm the decision), denials by reason, SLA breaches by kind.
    kind = case(
        (a.action == "denied", a.reason),
        ((a.action == "sla_breached") & (func.substr(a.reason, 1, 8) == "decision"), "decision"),
        (a.action.in_(("sla_breached", "escalated")), "approval"),
    )
    grouping = [*keys(at=a.at), a.action, kind.label("kind")]
    events = select(*grouping, func.count().label("n")).where(a.action.in_(EVENTS), inside(a.at))
    if by in GROUP_OF:
        events = events.join(c, c.id == a.claim_id)
    for row in db.execute(events.group_by(*grouping)).mappings():
        add(row, "at", row["action"], row["kind"], row["n"])

    # The payouts paid or refused in the period; and those of the claims paid in it, for paid over claimed.
    at = func.coalesce(p.completed_at, p.created_at)
    label = case((p.status == "paid", func.upper(p.currency)), else_=p.failure_code)
    share = case((c.amount_cents > 0, cast(p.amount_cents, Float) / c.amount_cents), else_=0.0)
    grouping = [*keys(at=at, paid=c.paid_at), p.status, label.label("label")]
    payouts = select(
        *grouping,
        func.count().filter(inside(at)).label("n"),
        func.sum(p.amount_cents).filter(inside(at)).label("cents"),
        func.sum(share).filter(p.status == "paid", inside(c.paid_at)).label("share"),
    )
    payouts = payouts.join(c, c.id == p.claim_id)
    payouts = payouts.where(p.status.in_(("paid", "failed")), inside(at) | inside(c.paid_at))
    for row in db.execute(payouts.group_by(*grouping)).mappings():
        if row["n"]:
            add(row, "at", f"payout_{row['status']}", row["label"], row["n"], row["cents"])
        if row["share"] is not None:
            add(row, "paid", "paid", None, 0, None, row["share"])

    # The discrepancies found; one of a claim not touched in the period counts in the total only.
    f, r = tables.ReconciliationFinding, tables.Reconciliation
    grouping = [case((touched, GROUP_OF[by])).label("key")] if by in GROUP_OF else keys(at=r.finished_at)
    found = select(*grouping, f.kind, f.key.label("identity"), f.id).join(r, r.id == f.reconciliation_id)
    if by in GROUP_OF:
        found = found.outerjoin(c, c.id == f.claim_id)
    for row in db.execute(found.where(inside(r.finished_at))).mappings():
        for tally in counted(row, "at"):
            tally.found[row["kind"]].add(row["identity"] or f"finding-{row['id']}")
    return total, tallied


def _us(delta: timedelta) -> int:
    return delta // timedelta(microseconds=1)


def percentile(ordered: list[float], p: int) -> float | None:
    """The nearest-rank percentile of sorted values: the smallest with at least p% of them at or below it."""
    if not ordered:
        return None
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def cycle(micros: list[float]) -> CycleTime:
    """Durations in microseconds (exact as floats), told in seconds."""
    ordered = sorted(micros)
    return CycleTime(
        count=len(ordered),
        p50_seconds=_seconds(percentile(ordered, 50)),
        p90_seconds=_seconds(percentile(ordered, 90)),
        max_seconds=_seconds(max(ordered, default=None)),
    )


def _seconds(micros: float | None) -> float | None:
    return None if micros is None else micros / 1_000_000


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _unknown_merged(counts: Counter) -> dict[str, int]:
    """Counts by a reason or code, the missing ones as `unknown`, sorted."""
    merged: Counter = Counter()
    for name, n in counts.items():
        merged[name or "unknown"] += n
    return dict(sorted(merged.items()))


def figures(t: Tally, group: str, label: str) -> Figures:
    """Names the figures of one tally."""
    finals, sent_back = t.n["final"], t.n["sent_back"].total()
    reviews = sum(t.n[action].total() for action in REVIEWS)
    breaches = t.n["sla_breached"] + t.n["escalated"]
    resolved, resolved_with_breach = finals.total(), t.value["final"].total()
    first_reviews, approved_first = t.n["reviewed"][None], t.value["reviewed"][None]
    failures = _unknown_merged(t.n["payout_failed"])
    paid = t.n["paid"][None]
    currencies = sorted({*t.n["opened"], *t.n["approval"], *t.n["payout_paid"]})
    return Figures(
        group=group,
        label=label,
        opened=t.n["opened"].total(),
        resolved=resolved,
        paid=finals[ClaimStatus.paid],
        denied=finals[ClaimStatus.denied],
        withdrawn=finals[ClaimStatus.withdrawn],
        closed_no_evidence=finals[ClaimStatus.closed_no_evidence],
        payout_cancelled=finals[ClaimStatus.payout_cancelled],
        mediated=finals[ClaimStatus.resolved_by_mediation],
        cycle_times={name: cycle(t.spans[name]) for name in CYCLES},
        sla_breaches={kind: breaches[kind] for kind in BREACH_KINDS},
        resolved_with_breach=resolved_with_breach,
        breach_share=_ratio(resolved_with_breach, resolved),
        first_reviews=first_reviews,
        approved_at_first_review=approved_first,
        first_review_approval_rate=_ratio(approved_first, first_reviews),
        reviews=reviews,
        sent_back=sent_back,
        send_back_rate=_ratio(sent_back, reviews),
        amounts=[
            Amounts(
                currency=currency,
                claimed_cents=t.value["opened"][currency],
                approved_cents=t.value["approval"][currency],
                paid_cents=t.value["payout_paid"][currency],
            )
            for currency in currencies
        ],
        paid_to_claimed_ratio=t.ratio / paid if paid else None,
        denials_by_reason=_unknown_merged(t.n["denied"]),
        payout_failures=sum(failures.values()),
        payout_failures_by_code=failures,
        discrepancies_by_kind={kind: len(ids) for kind, ids in sorted(t.found.items())},
    )


def flat(row: Figures) -> dict[str, object]:
    """One group's figures as one flat row (CSV): amounts per currency in major units, counts by key as k=n."""
    out: dict[str, object] = {
        "group": row.group,
        "label": row.label,
        **{k: getattr(row, k) for k in ("opened", "resolved", "paid", "denied", "withdrawn", "closed_no_evidence")},
        "payout_cancelled": row.payout_cancelled,
        "mediated": row.mediated,
    }
    for name, times in row.cycle_times.items():
        for stat in ("p50", "p90", "max"):
            out[f"{name}_{stat}_seconds"] = getattr(times, f"{stat}_seconds")
    out |= {f"sla_breaches_{kind}": n for kind, n in row.sla_breaches.items()}
    for key in ("breach_share", "first_review_approval_rate", "send_back_rate", "paid_to_claimed_ratio"):
        out[key] = getattr(row, key)
    for a in row.amounts:
        for what in ("claimed", "approved", "paid"):
            out[f"{what}_{a.currency}"] = f"{getattr(a, f'{what}_cents') / 100:.2f}"
    for key in ("denials_by_reason", "payout_failures_by_code", "discrepancies_by_kind"):
        out[key] = "; ".join(f"{k}={n}" for k, n in getattr(row, key).items())
    return out


def csv_text(found: KpiReport) -> str:
    rows = [flat(found.total), *(flat(g) for g in found.groups)]
    columns = list(dict.fromkeys(k for row in rows for k in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    return buffer.getvalue()
