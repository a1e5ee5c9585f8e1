"""The ledger side of a reconciliation: `payouts` rows streamed in idempotency-key order, or in
batches in any order for DuckDB (`ledger_batches`).

The database sorts, so this side needs no spool; rows are fetched in batches (`yield_per`), so
memory stays flat. On PostgreSQL the sort is `COLLATE "C"` (byte order, which is Python's string
order for UTF-8): under a locale collation such as en_US the order would differ from the provider
side's and `match` would refuse it as unsorted.
"""

from collections.abc import Iterator, Sequence
from datetime import datetime

from sqlalchemy import Connection, Row, Select, func, select, type_coerce
from sqlalchemy.types import NullType

from finance.lines import LedgerLine
from schema import tables

_payouts = tables.Payout.__table__


def ledger_select(start: datetime | None = None, end: datetime | None = None, *, dialect: str = "sqlite") -> Select:
    """Payouts created in [start, end), as LedgerLine columns, sorted by key for `dialect`."""
    c = _payouts.c
    key = c.idempotency_key.collate("C") if dialect == "postgresql" else c.idempotency_key
    return _within(select(*_columns(c.created_at)).order_by(key), start, end)


def _columns(created_at) -> tuple:
    c = _payouts.c
    return (
        c.idempotency_key,
        c.claim_id,
        c.attempt,
        c.provider_ref,
        c.amount_cents,
        func.upper(c.currency),
        c.status,
        created_at,
    )


def _within(query: Select, start: datetime | None, end: datetime | None) -> Select:
    created_at = _payouts.c.created_at
    if start is not None:
        query = query.where(created_at >= start)
    if end is not None:
        query = query.where(created_at < end)
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


def ledger_batches(conn: Connection, start: datetime, end: datetime, *, batch: int = 10_000) -> Iterator[Sequence[Row]]:
    """The same rows in no order, `batch` at a time, for DuckDB to join and sort.

    created_at comes as the driver hands it over, SQLite's text or PostgreSQL's datetime (Arrow
    reads either): converting a million of them in SQLAlchemy took longer than the join.
    """
    query = _within(select(*_columns(type_coerce(_payouts.c.created_at, NullType))), start, end)
    result = conn.execution_options(yield_per=batch).execute(query)
    try:
        yield from result.partitions()
    finally:
        result.close()
