"""The KPI report, read from the database (the system of record), never from Temporal.

Every figure belongs to the moment its event happened: a claim counts as opened in the period if
it was opened in it, as paid if its `paid` event is in it, and so on. A range is whole UTC days,
both ends included. The `week` breakdown cuts the period into ISO weeks (Monday first); the other
breakdowns split the claims by a property of the claim and keep the whole period.

Three queries do the work, whatever the number of claims: one row per claim touched in the period
with its milestones folded by SQL (first and last decision, first and last review, paid, final),
the rarer events one by one (reviews, send-backs, SLA breaches, denials), and the payouts. Python
then counts and takes percentiles.
"""

import csv
import io
import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from pydantic import ValidationError
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, sessionmaker

from rules.errors import DomainError
from schema import tables
from schema.enums import FINAL_STATUSES, ClaimStatus
from schema.finance import DateRange
from schema.kpis import Amounts, Breakdown, CycleTime, Figures, KpiReport

DEFAULT_DAYS = 7
CONFIRMED = ("approved", "denied")  # the approval that completes a review: the decision stands
EVENTS = ("approved", "denied", "sent_back", "sla_breached", "escalated")
CYCLES = ("open_to_decision", "decision_to_approval", "approval_to_paid", "open_to_final")
BREACH_KINDS = ("decision", "approval")

DEFINITIONS = {
    "period": "whole UTC days, both ends included; each figure counts the events that happened in it",
    "opened": "claims opened in the period",
    "resolved": "claims that reached a final state (paid, denied, withdrawn, closed_no_evidence, payout_cancelled)",
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


@dataclass
class ClaimFacts:
    id: str
    type: str
    channel: str
    tier: str
    specialist: str
    currency: str
    amount_cents: int
    approved_cents: int
    status: str
    breached: bool
    opened_at: datetime
    first_decided: datetime | None = None
    last_decided: datetime | None = None
    first_confirmed: datetime | None = None
    last_confirmed: datetime | None = None
    first_sent_back: datetime | None = None
    last_approved: datetime | None = None
    paid_at: datetime | None = None
    final_at: datetime | None = None
    paid_cents: int = 0
    events: list[tuple[str, datetime, str | None]] = field(default_factory=list)


@dataclass
class Books:
    """What a report is computed from: the claims touched in the period, their payouts, the findings."""

    claims: dict[str, ClaimFacts]
    payouts: list[tuple[str, str, int, str, datetime, str | None]]  # claim, status, cents, currency, at, code
    findings: list[tuple[str | None, str, datetime, str]]  # claim, kind, finished, identity
    names: dict[str, str]


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
        books = load(db, start, end)
    total = figures(books, books.claims.values(), start, end, "all", "All claims", lambda _: True)
    return KpiReport(
        date_from=date_from,
        date_to=date_to,
        by=by,
        total=total,
        groups=list(groups(books, by, start, end)),
        definitions=DEFINITIONS,
    )


def groups(books: Books, by: Breakdown, start: datetime, end: datetime) -> Iterable[Figures]:
    if by == Breakdown.none:
        return
    if by == Breakdown.week:
        first = datetime.combine(start.date() - timedelta(days=start.weekday()), time(), tzinfo=UTC)
        weeks = _by_week(books, first, start, end)
        monday = first.date()
        for number, (claims, payouts, findings) in enumerate(weeks):
            week = first + timedelta(days=7 * number)
            lo, hi = max(start, week), min(end, week + timedelta(days=7))
            label = f"week of {monday.isoformat()}"
            week_books = Books({}, payouts, findings, books.names)
            yield figures(week_books, claims, lo, hi, monday.isoformat(), label, lambda _: True)
            monday += timedelta(days=7)
        return
    key = _key(by)
    split: dict[str, list[ClaimFacts]] = defaultdict(list)
    group_of: dict[str, str] = {}
    for claim in books.claims.values():
        group_of[claim.id] = name = key(claim)
        split[name].append(claim)
    # Each group's payouts and findings: those of its claims (a finding with no claim is in none), split once.
    payouts, findings = defaultdict(list), defaultdict(list)
    for payout in books.payouts:
        if payout[0] in group_of:
            payouts[group_of[payout[0]]].append(payout)
    for finding in books.findings:
        if finding[0] in group_of:
            findings[group_of[finding[0]]].append(finding)
    for name in sorted(split):
        label = books.names.get(name, name) if by == Breakdown.specialist else name
        own = Books({}, payouts[name], findings[name], books.names)
        yield figures(own, split[name], start, end, name, label, lambda _: True)


def _by_week(books: Books, first: datetime, start: datetime, end: datetime) -> list[tuple[list, list, list]]:
    """Per week from the Monday `first` to `end`: the claims with a moment in it, and its payouts and findings.

    A claim counts in a week only through its moments (opened, decided, reviewed, paid, final, its events),
    so it goes to every week from its opening to its last moment, and to no other: each week's figures
    read a few weeks' claims, not the whole period's.
    """
    count = -(-(end - first).days // 7)
    weeks: list[tuple[list, list, list]] = [([], [], []) for _ in range(count)]

    def number(at: datetime) -> int:
        return min(max((at - first).days // 7, 0), count - 1)

    for c in books.claims.values():
        moments = (c.first_decided, c.last_decided, c.last_confirmed, c.first_confirmed, c.first_sent_back)
        moments += (c.last_approved, c.paid_at, c.final_at, *(at for _, at, _ in c.events))
        last = max((m for m in moments if m is not None), default=c.opened_at)
        if last < start or c.opened_at >= end:
            continue
        for n in range(number(max(c.opened_at, start)), number(min(last, end - timedelta(microseconds=1))) + 1):
            weeks[n][0].append(c)
    for payout in books.payouts:
        if start <= payout[4] < end:
            weeks[number(payout[4])][1].append(payout)
    for finding in books.findings:
        if start <= finding[2] < end:
            weeks[number(finding[2])][2].append(finding)
    return weeks


def _key(by: Breakdown) -> Callable[[ClaimFacts], str]:
    return {
        Breakdown.type: lambda c: c.type,
        Breakdown.channel: lambda c: c.channel,
        Breakdown.tier: lambda c: c.tier,
        Breakdown.specialist: lambda c: c.specialist,
    }[by]


def load(db: Session, start: datetime, end: datetime) -> Books:
    c, a = tables.Claim, tables.AuditEntry
    # A claim any of whose events falls in the period was opened before its end and touched after its start.
    touched = select(c.id).where(c.opened_at < end, c.updated_at >= start)
    claims: dict[str, ClaimFacts] = {}
    db = db.connection()  # Core rows: the ORM's per-row work costs more than the query at 100,000 claims
    rows = db.execute(
        select(
            c.id,
            c.type,
            c.channel,
            c.required_tier,
            func.coalesce(c.decided_by, c.opened_by),
            c.currency,
            c.amount_cents,
            c.approved_amount_cents,
            c.status,
            func.coalesce(func.json_array_length(c.sla_breaches), 0) > 0,  # not every breach decoded
            c.opened_at,
        ).where(c.id.in_(touched))
    ).all()  # fetched at once: row by row costs more than the query
    for row in rows:
        claims[row[0]] = ClaimFacts(
            id=row[0],
            type=row[1],
            channel=row[2],
            tier=row[3] or "none",
            specialist=row[4],
            currency=row[5],
            amount_cents=row[6],
            approved_cents=row[7] or 0,
            status=row[8],
            breached=bool(row[9]),
            opened_at=row[10],
        )

    def first(condition):
        return func.min(case((condition, a.at)))

    def last(condition):
        return func.max(case((condition, a.at)))

    milestones = select(
        a.claim_id,
        first(a.action == "decided"),
        last(a.action == "decided"),
        first(a.action.in_(CONFIRMED)),
        last(a.action.in_(CONFIRMED)),
        first(a.action == "sent_back"),
        last(a.action == "approved"),
        first(a.action == "paid"),
        first(a.to_status.in_([s.value for s in FINAL_STATUSES])),
    ).where(
        a.claim_id.in_(touched),
        a.action.in_(("decided", *CONFIRMED, "sent_back", "paid")) | a.to_status.in_([s.value for s in FINAL_STATUSES]),
    )
    for row in db.execute(milestones.group_by(a.claim_id)).all():
        facts = claims.get(row[0])
        if facts is not None:
            (
                facts.first_decided,
                facts.last_decided,
                facts.first_confirmed,
                facts.last_confirmed,
                facts.first_sent_back,
                facts.last_approved,
                facts.paid_at,
                facts.final_at,
            ) = (_utc(v) for v in row[1:])
    events = select(a.claim_id, a.action, a.at, a.reason).where(
        a.claim_id.in_(touched), a.action.in_(EVENTS), a.at >= start, a.at < end
    )
    for claim_id, action, at, reason in db.execute(events).all():
        if claim_id in claims:
            claims[claim_id].events.append((action, at, reason))

    p = tables.Payout
    payouts = []
    for claim_id, status, cents, currency, created, completed, code in db.execute(
        select(p.claim_id, p.status, p.amount_cents, p.currency, p.created_at, p.completed_at, p.failure_code).where(
            p.claim_id.in_(touched)
        )
    ).all():
        at = completed or created
        if status == "paid" and claim_id in claims:
            claims[claim_id].paid_cents += cents
        payouts.append((claim_id, status, cents, currency.upper(), at, code))

    f, r = tables.ReconciliationFinding, tables.Reconciliation
    findings = []
    for claim_id, kind, finished, key, finding_id in db.execute(
        select(f.claim_id, f.kind, r.finished_at, f.key, f.id)
        .join(r, r.id == f.reconciliation_id)
        .where(r.finished_at >= start, r.finished_at < end)
    ).all():
        findings.append((claim_id, kind, finished, key or f"finding-{finding_id}"))
    people = {facts.specialist for facts in claims.values()}
    names = dict(db.execute(select(tables.User.id, tables.User.name).where(tables.User.id.in_(people))).all())
    return Books(claims, payouts, findings, names)


def _utc(value):
    """An aggregate of a timestamp, as an aware UTC datetime (SQLite hands back text without a zone)."""
    if value is None or isinstance(value, datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def percentile(values: list[float], p: int) -> float | None:
    """The nearest-rank percentile: the smallest value with at least p% of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def cycle(values: list[float]) -> CycleTime:
    return CycleTime(
        count=len(values),
        p50_seconds=percentile(values, 50),
        p90_seconds=percentile(values, 90),
        max_seconds=max(values) if values else None,
    )


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def figures(
    books: Books,
    claims: Iterable[ClaimFacts],
    start: datetime,
    end: datetime,
    group: str,
    label: str,
    owns: Callable[[str | None], bool],
) -> Figures:
    """The figures of `claims` for the events in [start, end); `owns` says which payouts and findings are theirs."""

    def inside(at: datetime | None) -> bool:
        return at is not None and start <= at < end

    finals: dict[str, int] = defaultdict(int)
    spans: dict[str, list[float]] = {name: [] for name in CYCLES}
    breaches = dict.fromkeys(BREACH_KINDS, 0)
    denials: dict[str, int] = defaultdict(int)
    money: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    opened = resolved_with_breach = first_reviews = approved_first = reviews = sent_back = 0
    ratios: list[float] = []
    for c in claims:
        if inside(c.opened_at):
            opened += 1
            money[c.currency][0] += c.amount_cents
        if inside(c.final_at):
            finals[c.status] += 1
            resolved_with_breach += c.breached
            spans["open_to_final"].append((c.final_at - c.opened_at).total_seconds())
        if inside(c.first_decided):
            spans["open_to_decision"].append((c.first_decided - c.opened_at).total_seconds())
        if inside(c.last_confirmed) and c.last_decided and c.last_decided <= c.last_confirmed:
            spans["decision_to_approval"].append((c.last_confirmed - c.last_decided).total_seconds())
        if inside(c.last_approved):
            money[c.currency][1] += c.approved_cents
        if inside(c.paid_at):
            if c.last_approved and c.last_approved <= c.paid_at:
                spans["approval_to_paid"].append((c.paid_at - c.last_approved).total_seconds())
            ratios.append(c.paid_cents / c.amount_cents if c.amount_cents else 0.0)
        first_review = min((t for t in (c.first_confirmed, c.first_sent_back) if t), default=None)
        if inside(first_review):
            first_reviews += 1
            approved_first += first_review == c.first_confirmed
        for action, at, reason in c.events:
            if not inside(at):
                continue
            if action in ("approved", "denied", "sent_back"):
                reviews += 1
                sent_back += action == "sent_back"
            if action == "denied":
                denials[reason or "unknown"] += 1
            elif action == "escalated" or (action == "sla_breached" and not (reason or "").startswith("decision")):
                breaches["approval"] += 1
            elif action == "sla_breached":
                breaches["decision"] += 1
    failures: dict[str, int] = defaultdict(int)
    for claim_id, status, cents, currency, at, code in books.payouts:
        if not inside(at) or not owns(claim_id):
            continue
        if status == "paid":
            money[currency][2] += cents
        elif status == "failed":
            failures[code or "unknown"] += 1
    found: dict[str, set] = defaultdict(set)
    for claim_id, kind, finished, identity in books.findings:
        if inside(finished) and owns(claim_id):
            found[kind].add(identity)
    resolved = sum(finals.values())
    return Figures(
        group=group,
        label=label,
        opened=opened,
        resolved=resolved,
        paid=finals[ClaimStatus.paid],
        denied=finals[ClaimStatus.denied],
        withdrawn=finals[ClaimStatus.withdrawn],
        closed_no_evidence=finals[ClaimStatus.closed_no_evidence],
        payout_cancelled=finals[ClaimStatus.payout_cancelled],
        cycle_times={name: cycle(values) for name, values in spans.items()},
        sla_breaches=breaches,
        resolved_with_breach=resolved_with_breach,
        breach_share=_ratio(resolved_with_breach, resolved),
        first_reviews=first_reviews,
        approved_at_first_review=approved_first,
        first_review_approval_rate=_ratio(approved_first, first_reviews),
        reviews=reviews,
        sent_back=sent_back,
        send_back_rate=_ratio(sent_back, reviews),
        amounts=[
            Amounts(currency=cur, claimed_cents=v[0], approved_cents=v[1], paid_cents=v[2])
            for cur, v in sorted(money.items())
        ],
        paid_to_claimed_ratio=sum(ratios) / len(ratios) if ratios else None,
        denials_by_reason=dict(sorted(denials.items())),
        payout_failures=sum(failures.values()),
        payout_failures_by_code=dict(sorted(failures.items())),
        discrepancies_by_kind={kind: len(ids) for kind, ids in sorted(found.items())},
    )


def flat(row: Figures) -> dict[str, object]:
    """One group's figures as one flat row (CSV): amounts per currency in major units, counts by key as k=n."""
    out: dict[str, object] = {
        "group": row.group,
        "label": row.label,
        **{k: getattr(row, k) for k in ("opened", "resolved", "paid", "denied", "withdrawn", "closed_no_evidence")},
        "payout_cancelled": row.payout_cancelled,
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
