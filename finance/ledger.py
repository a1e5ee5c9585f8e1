"""The ledger side of a reconciliation: `payouts` rows streamed in idempotency-key order.

The database sorts, so this side needs no spool; rows are fetched in batches (`yield_per`), so
memory stays flat. On PostgreSQL the sort is `COLLATE "C"` (byte order, which is Python's string
order for UTF-8): under a locale collation such as en_US the order would differ from the provider
side's and `match` would refuse it as unsorted.
"""

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import Connection, Select, func, select

from finance.lines import LedgerLine
from schema import tables

_payouts = tables.Payout.__table__


def ledger_select(start: datetime | None = None, end: datetime | None = None, *, dialect: str = "sqlite") -> Select:
    """Payouts created in [start, end), as LedgerLine columns, sorted by key for `dialect`."""
    c = _payouts.c
    key = c.idempotency_key.collate("C") if dialect == "postgresql" else c.idempotency_key
    query = select(
        c.idempotency_key,
        c.claim_id,
        c.attempt,
        c.provider_ref,
        c.amount_cents,
        func.upper(c.currency),
        c.status,
        c.created_at,
    ).order_by(key)
    if start is not None:
        query = query.where(c.created_at >= start)
    if end is not None:
        query = query.where(c.created_at < end)
    return query


def stream_ledger(
    conn: Connection, start: datetime | None = None, end: datetime | None = None, *, batch: int = 10_000
) -> Iterator[LedgerLine]:
    """LedgerLines for payouts created in [start, end), by key, `batch` rows in memory at a time."""
    query = ledger_select(start, end, dialect=conn.dialect.name)
    result = conn.execution_options(yield_per=batch).execute(query)
    make = LedgerLine._make
    try:
        for rows in result.partitions():
            yield from map(make, rows)
    finally:
        result.close()
