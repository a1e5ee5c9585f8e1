"""The payout ledger as finance reads it: filtered, totalled by day and by claim type, and as CSV.

Rows are streamed from the database, so a year of payouts exports without being held in memory.
"""

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Select, select
from sqlalchemy.orm import sessionmaker

from finance import csv_stream
from schema import tables
from schema.enums import ClaimType, PayoutStatus
from schema.finance import LedgerPage, LedgerRow, LedgerTotal
from schema.money import major_units

CSV_COLUMNS = [
    "created_utc",
    "claim_id",
    "claim_type",
    "attempt",
    "idempotency_key",
    "status",
    "method",
    "amount",
    "currency",
    "provider",
    "provider_ref",
    "completed_utc",
    "failure_code",
]


@dataclass(frozen=True)
class LedgerFilter:
    date_from: date | None = None
    date_to: date | None = None
    status: PayoutStatus | None = None
    type: ClaimType | None = None


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _query(f: LedgerFilter) -> Select:
    p, c = tables.Payout, tables.Claim
    query = select(p, c.type).join(c, c.id == p.claim_id)
    if f.date_from:
        query = query.where(p.created_at >= day_start(f.date_from))
    if f.date_to:
        query = query.where(p.created_at < day_start(f.date_to + timedelta(days=1)))
    if f.status:
        query = query.where(p.status == f.status)
    if f.type:
        query = query.where(c.type == f.type)
    return query


def _row(payout: tables.Payout, claim_type: str) -> LedgerRow:
    fields = {name: getattr(payout, name) for name in LedgerRow.model_fields if name != "claim_type"}
    return LedgerRow(**fields, claim_type=claim_type)


def stream(sessions: sessionmaker, f: LedgerFilter, batch: int = 2_000) -> Iterator[LedgerRow]:
    query = _query(f).order_by(tables.Payout.created_at, tables.Payout.id)
    with sessions() as db:
        for payout, claim_type in db.execute(query.execution_options(yield_per=batch)):
            yield _row(payout, claim_type)


def by_key(sessions: sessionmaker, key: str) -> LedgerRow | None:
    """The payout the ledger holds under an idempotency key, if any."""
    with sessions() as db:
        found = db.execute(_query(LedgerFilter()).where(tables.Payout.idempotency_key == key)).first()
        return _row(*found) if found else None


def page(sessions: sessionmaker, f: LedgerFilter, limit: int, offset: int) -> LedgerPage:
    by_day: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    by_type: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    total = 0
    for row in stream(sessions, f):
        total += 1
        for totals, group in ((by_day, row.created_at.astimezone(UTC).date().isoformat()), (by_type, row.claim_type)):
            cell = totals[(group, row.currency, row.status)]
            cell[0] += 1
            cell[1] += row.amount_cents
    with sessions() as db:
        rows = db.execute(
            _query(f).order_by(tables.Payout.created_at.desc(), tables.Payout.id.desc()).limit(limit).offset(offset)
        )
        items = [_row(payout, claim_type) for payout, claim_type in rows]
    return LedgerPage(
        items=items, total=total, limit=limit, offset=offset, by_day=_totals(by_day), by_type=_totals(by_type)
    )


def _totals(cells: dict[tuple, list[int]]) -> list[LedgerTotal]:
    return [
        LedgerTotal(group=group, currency=currency, status=status, count=count, amount_cents=amount)
        for (group, currency, status), (count, amount) in sorted(cells.items())
    ]


def _utc(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def csv_chunks(rows: Iterator[LedgerRow]) -> Iterator[str]:
    """The ledger as CSV text, a header then one line per payout, produced as it is read."""
    return csv_stream.csv_chunks(CSV_COLUMNS, (_csv_row(row) for row in rows))


def _csv_row(row: LedgerRow) -> list:
    return [
        _utc(row.created_at),
        row.claim_id,
        row.claim_type.value,
        row.attempt,
        row.idempotency_key,
        row.status.value,
        row.method.value if row.method else "",
        major_units(row.amount_cents),
        row.currency.lower(),
        row.provider,
        row.provider_ref or "",
        _utc(row.completed_at),
        row.failure_code or "",
    ]
