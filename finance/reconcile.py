"""One reconciliation: the provider's transfers and refunds, listed through the Stripe API, matched
against the ledger for whole UTC days.

Both sides are read a day wider than the range, so a payout written just before midnight whose
transfer is stamped just after still matches; `match(period=...)` reports only the keys anchored
inside the range. The provider side goes through a disk spool to be sorted by key, the ledger is
sorted by the database, so memory does not grow with the number of payouts.
"""

from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta

import stripe
from sqlalchemy import Connection

from finance.ledger import stream_ledger
from finance.ledger_report import day_start
from finance.lines import ProviderLine, refund_line, transfer_line
from finance.matching import Finding, match
from finance.spool import sorted_by_key

MARGIN = timedelta(days=1)
PAGE = 100


def provider_lines(
    client: stripe.StripeClient, start: datetime, end: datetime, tick: Callable[[], None] = lambda: None
) -> Iterator[ProviderLine]:
    """Every Transfer and Refund created in [start, end), page by page through Stripe's pagination.

    `tick` is called once a page, so a long listing can tell it is alive (an activity heartbeat).
    """
    params = {"limit": PAGE, "created": {"gte": int(start.timestamp()), "lt": int(end.timestamp())}}
    listings = (client.v1.transfers.list(params=params), client.v1.refunds.list(params=params))
    for listing, line in zip(listings, (transfer_line, refund_line), strict=True):
        for seen, obj in enumerate(listing.auto_paging_iter()):
            if seen % PAGE == 0:
                tick()
            yield line(obj)


def reconcile(
    conn: Connection,
    client: stripe.StripeClient,
    date_from: date,
    date_to: date,
    tick: Callable[[], None] = lambda: None,
) -> Iterator[Finding]:
    start, end = day_start(date_from), day_start(date_to + timedelta(days=1))
    provider = sorted_by_key(provider_lines(client, start - MARGIN, end + MARGIN, tick))
    ledger = stream_ledger(conn, start - MARGIN, end + MARGIN)
    yield from match(ledger, provider, period=(start, end))
