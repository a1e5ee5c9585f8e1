"""The ledger side of a reconciliation: `payouts` rows streamed in idempotency-key order, or in
batches in any order for DuckDB (`ledger_batches`).

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
    return _within(select(*_columns()).order_by(key), start, end)


def _columns() -> tuple:
    c = _payouts.c
    return (
        c.idempotency_key,
        c.claim_id,
        c.attempt,
        c.provider_ref,
        c.amount_cents,
        func.upper(c.currency),
        c.status,
        c.created_at,
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


def ledger_batches(conn: Connection, start: datetime, end: datetime, *, batch: int = 10_000) -> Iterator[list[tuple]]:
    """The same rows in no order, `batch` at a time, for DuckDB to join and sort.

    Fetched as the driver's plain tuples, on its own cursor in the connection's transaction (on
    PostgreSQL a server-side one, so memory stays flat): building a SQLAlchemy row for each of a
    million took as long as the fetch. So the period is written into the statement as SQLAlchemy
    binds it, and created_at comes as the driver hands it over, SQLite's text or PostgreSQL's
    datetime (Arrow reads either).
    """
    query = _within(select(*_columns()), start, end)
    driver = conn.connection.driver_connection
    cursor = driver.cursor("ledger_batches") if conn.dialect.name == "postgresql" else driver.cursor()
    try:
        cursor.execute(str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})))
        while rows := cursor.fetchmany(batch):
            yield rows
    finally:
        cursor.close()
