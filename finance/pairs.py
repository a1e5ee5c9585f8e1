"""The plain pairs settled in DuckDB, so that `match` judges only the rest.

Nearly every payout is a plain pair: a ledger row and the one provider object with its key, both
paid, same amount, currency and object id; `match` would call each `matched`, a million times a
run in Python. Here the ledger joins the spool's provider lines in DuckDB and the plain pairs are
only counted. Every other key (a side missing, any disagreement, a second object) goes to `match`
whole, both sides in key order, with the keyless objects: its rules stay the only ones.

A key is plain when each of its rows, on both sides, finds a partner that agrees. Two objects never
both agree with one ledger row, as the ledger names one object id, so a duplicate always leaves an
object without a partner. (Stripe's cursor pagination lists each object once.)
"""

from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import NamedTuple

import pyarrow as pa

from finance.lines import LedgerLine, ProviderLine
from finance.spool import ProviderSpool, columns, read

_TYPES = (pa.string(), pa.string(), pa.int64(), pa.string(), pa.int64(), pa.string(), pa.string(), pa.timestamp("us"))
_SCHEMA = pa.schema(zip(LedgerLine._fields, _TYPES, strict=True))

# A ledger row and a provider object pair off when they agree in everything; the keys where a row
# of either side is left without a partner are the ones `match` must judge. Joined one part of the
# spool at a time: a key's rows, on both sides, are all in one part.
_ODD = """
INSERT INTO odd
SELECT DISTINCT coalesce(l.key, p.key) AS key
FROM (SELECT key, CASE WHEN status = 'paid' THEN provider_ref END AS paid, amount_cents, currency FROM ledger_{part}) l
FULL OUTER JOIN (
    SELECT key, CASE WHEN status = 'paid' THEN object_id END AS paid, amount_cents, currency
    FROM provider_{part} WHERE key IS NOT NULL
) p ON l.key = p.key AND l.paid = p.paid AND l.amount_cents = p.amount_cents AND l.currency = p.currency
WHERE l.key IS NULL OR p.key IS NULL
"""
_PLAIN = "SELECT count(*) FROM ledger ANTI JOIN odd USING (key) WHERE created_at >= ? AND created_at < ?"
_LEDGER_REST = f"SELECT {', '.join(LedgerLine._fields)} FROM ledger SEMI JOIN odd USING (key) ORDER BY key"
_PROVIDER_REST = (
    f"SELECT {', '.join(ProviderLine._fields)} FROM provider"
    " WHERE key IS NULL OR key IN (SELECT key FROM odd) ORDER BY key NULLS FIRST, created, object_id"
)


class Rest(NamedTuple):
    plain: int  # plain pairs whose ledger row was created in the period: `matched`, counted here
    ledger: Iterator[LedgerLine]  # every other ledger line, by key
    provider: Iterator[ProviderLine]  # every other provider line, by key, keyless ones first


def load_ledger(spool: ProviderSpool, batches: Iterable[Sequence[Sequence]]) -> None:
    """Ledger rows (`finance.ledger.ledger_batches`) into the spool, as the view `ledger` beside `provider`."""
    spool.view("ledger", _SCHEMA)
    for rows in batches:
        # created_at as the driver hands it over, SQLite's text or a datetime, then to UTC without a zone
        created_at = pa.string() if isinstance(rows[0][-1], str) else pa.timestamp("us", "UTC")
        table = columns(rows, pa.schema([*_SCHEMA][:-1] + [pa.field("created_at", created_at)]))
        spool.write("ledger", table.set_column(7, "created_at", table.column(7).cast(_TYPES[-1])))


def settle(spool: ProviderSpool, period: tuple[datetime, datetime]) -> Rest:
    """Count the plain pairs anchored in `period`; hand back the rest for `match(..., period=period)`."""
    spool.flush()
    spool.db.execute("CREATE TABLE odd (key VARCHAR)")
    for part in range(spool.parts):
        spool.db.execute(_ODD.format(part=part))
    start, end = (moment.astimezone(UTC).replace(tzinfo=None) for moment in period)
    [(plain,)] = spool.db.execute(_PLAIN, [start, end]).fetchall()
    ledger = read(spool.db.cursor(), _LEDGER_REST, _ledger_line)
    provider = read(spool.db.cursor(), _PROVIDER_REST, ProviderLine._make)
    return Rest(plain, ledger, provider)


def _ledger_line(row: tuple) -> LedgerLine:
    return LedgerLine(*row[:7], row[7].replace(tzinfo=UTC))
