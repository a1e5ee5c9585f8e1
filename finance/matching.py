"""The ledger against the provider: a streaming merge join on the idempotency key.

Both inputs must be sorted by key, ascending, in Python's string order (code point order, which is
SQLite's BINARY and PostgreSQL's "C" collation); the ledger strictly (its key is unique). Provider
lines with key None (objects without claim metadata) may come anywhere (the spool puts them
first). Out-of-order input raises `UnsortedInput` instead of yielding false findings. Only the
current key's provider objects are held, so memory does not grow with the number of payouts.

Every ledger row and every provider object ends up in at least one finding; a pair that disagrees
in several ways yields one finding per disagreement, so per-kind counts stay exact:

    matched              ledger paid, one provider object paid, same amount, currency, object id
    no_money_moved       ledger pending/failed and no provider object, or a failed one (a refund
                         that failed or was canceled): both sides agree nothing went out. Not a
                         discrepancy; amounts are not compared (no dollars to reconcile).
    missing_at_provider  ledger paid, no provider object with its key
    missing_in_ledger    a provider object (any status) whose key has no ledger row, or that has
                         no claim metadata at all (key None)
    status_mismatch      money moved on one side only: ledger paid but the object failed or was
                         reversed (in whole or part); or the object paid/reversed while the ledger
                         says pending (a crash between the call and the ledger update) or failed.
                         A reversal never agrees with anything: it moved money and is always a
                         human action outside the payout flow that finance must see.
    amount_mismatch      the pair's amounts differ (checked whenever money moved on either side)
    currency_mismatch    the pair's currencies differ (likewise)
    ref_mismatch         same key, but the ledger's provider_ref is not this object's id (or the
                         ledger says paid without one): the money went out once, for the right
                         claim, but the ledger points at another object.
    duplicate            two or more objects for one key: the one the ledger names (else the first
                         paid one, else the first; by created, then id) is compared as above, and
                         each other one is a `duplicate`. With no ledger row, the first is
                         `missing_in_ledger` and the others `duplicate`.

The claim id needs no separate check: the key is built from the claim id and the attempt, and the
attempt is digits, so one key means one claim.
"""

from collections.abc import Iterable, Iterator
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from finance.lines import FAILED, PAID, LedgerLine, ProviderLine


class Kind(StrEnum):
    matched = "matched"
    no_money_moved = "no_money_moved"
    missing_at_provider = "missing_at_provider"
    missing_in_ledger = "missing_in_ledger"
    amount_mismatch = "amount_mismatch"
    currency_mismatch = "currency_mismatch"
    status_mismatch = "status_mismatch"
    ref_mismatch = "ref_mismatch"
    duplicate = "duplicate"


DISCREPANCIES = frozenset(Kind) - {Kind.matched, Kind.no_money_moved}
_MATCHED = Kind.matched


class Finding(NamedTuple):
    kind: Kind
    key: str | None
    claim_id: str | None
    ledger: LedgerLine | None
    provider: ProviderLine | None
    detail: str = ""


_new = tuple.__new__  # builds a Finding without the generated __new__: twice as fast


class UnsortedInput(ValueError):
    """An input is not sorted by key: a merge join over it would report false findings."""


def match(
    ledger: Iterable[LedgerLine],
    provider: Iterable[ProviderLine],
    *,
    period: tuple[datetime, datetime] | None = None,
) -> Iterator[Finding]:
    """Findings for every ledger line and provider line, in key order (keyless objects as met).

    `ledger`: LedgerLines by key ascending, each key once (`finance.ledger.stream_ledger`).
    `provider`: ProviderLines by key ascending, keyless ones anywhere (`ProviderSpool.sorted()`).
    Both are consumed lazily, once; `UnsortedInput` is raised at the first line out of order.

    `period=(start, end)` reconciles one window without false findings at its edges: pass both
    sides for a wider window (e.g. a day either side) and only keys anchored in [start, end) are
    reported, the anchor being the ledger row's created_at, else the first provider object's
    created. So a payout written at 23:59:59 whose transfer is stamped 00:00:01 matches, and a key
    belongs to exactly one day.
    """
    keep = _anchored_in(period) if period is not None else None
    lines = _ledger_in_order(ledger)
    groups = _provider_groups(provider)
    line = next(lines, None)
    group = next(groups, None)
    while line is not None and group is not None:
        pkey, objects = group
        if pkey is None:
            if keep is None or keep(None, objects):
                yield _keyless(objects[0])
            group = next(groups, None)
            continue
        lkey = line.key
        if lkey == pkey:
            if keep is not None and not keep(line, objects):
                pass
            elif len(objects) == 1:
                obj = objects[0]
                if (  # the common case, decided inline: a million of these per run
                    line.status == PAID
                    and obj.status == PAID
                    and line.amount_cents == obj.amount_cents
                    and line.currency == obj.currency
                    and line.provider_ref == obj.object_id
                ):
                    yield _new(Finding, (_MATCHED, lkey, line.claim_id, line, obj, ""))
                else:
                    yield from _compare(line, obj)
            else:
                yield from _with_duplicates(line, objects)
            line = next(lines, None)
            group = next(groups, None)
        elif lkey < pkey:
            if keep is None or keep(line, ()):
                yield _ledger_only(line)
            line = next(lines, None)
        else:
            if keep is None or keep(None, objects):
                yield from _provider_only(objects)
            group = next(groups, None)
    while line is not None:
        if keep is None or keep(line, ()):
            yield _ledger_only(line)
        line = next(lines, None)
    while group is not None:
        pkey, objects = group
        if keep is None or keep(None, objects):
            yield from (_provider_only(objects) if pkey is not None else [_keyless(objects[0])])
        group = next(groups, None)


def _ledger_in_order(ledger: Iterable[LedgerLine]) -> Iterator[LedgerLine]:
    previous = None
    for line in ledger:
        if previous is not None and line.key <= previous:
            word = "repeated" if line.key == previous else "out of order"
            raise UnsortedInput(f"ledger key {word}: {line.key!r} after {previous!r}")
        previous = line.key
        yield line


def _provider_groups(provider: Iterable[ProviderLine]) -> Iterator[tuple[str | None, tuple[ProviderLine, ...]]]:
    """(key, objects with that key); keyless objects one at a time, so none is ever held.

    A look-ahead loop rather than itertools.groupby: a third faster, as nearly every group is one.
    """
    objects = iter(provider)
    obj = next(objects, None)
    previous = None
    while obj is not None:
        key = obj.key
        following = next(objects, None)
        if key is None:
            yield None, (obj,)
        else:
            if previous is not None and key <= previous:
                raise UnsortedInput(f"provider key out of order: {key!r} after {previous!r}")
            previous = key
            if following is None or following.key != key:
                yield key, (obj,)
            else:
                same = [obj]
                while following is not None and following.key == key:
                    same.append(following)
                    following = next(objects, None)
                yield key, tuple(same)
        obj = following


def _anchored_in(period: tuple[datetime, datetime]):
    start, end = (moment.timestamp() for moment in period)

    def keep(line: LedgerLine | None, objects: Iterable[ProviderLine]) -> bool:
        anchor = line.created_at.timestamp() if line is not None else min(obj.created for obj in objects)
        return start <= anchor < end

    return keep


def _ledger_only(line: LedgerLine) -> Finding:
    if line.status == PAID:
        detail = f"ledger paid {line.amount_cents} {line.currency} as {line.provider_ref}, no provider object"
        return Finding(Kind.missing_at_provider, line.key, line.claim_id, line, None, detail)
    return Finding(
        Kind.no_money_moved, line.key, line.claim_id, line, None, f"ledger {line.status}, no provider object"
    )


def _keyless(obj: ProviderLine) -> Finding:
    why = "claim metadata without a valid attempt" if obj.claim_id else "no claim metadata"
    detail = f"provider {obj.status} {obj.amount_cents} {obj.currency}, {why}"
    return Finding(Kind.missing_in_ledger, None, obj.claim_id, None, obj, detail)


def _provider_only(objects: tuple[ProviderLine, ...]) -> list[Finding]:
    first = min(objects, key=lambda obj: (obj.status != PAID, obj.created, obj.object_id))
    detail = f"provider {first.status} {first.amount_cents} {first.currency}, no ledger row"
    found = [Finding(Kind.missing_in_ledger, first.key, first.claim_id, None, first, detail)]
    found += _duplicates(None, objects, first)
    return found


def _with_duplicates(line: LedgerLine, objects: tuple[ProviderLine, ...]) -> list[Finding]:
    ref = line.provider_ref
    primary = min(objects, key=lambda obj: (obj.object_id != ref, obj.status != PAID, obj.created, obj.object_id))
    return _compare(line, primary) + _duplicates(line, objects, primary)


def _duplicates(line: LedgerLine | None, objects: tuple[ProviderLine, ...], primary: ProviderLine) -> list[Finding]:
    return [
        Finding(
            Kind.duplicate,
            obj.key,
            obj.claim_id,
            line,
            obj,
            f"{len(objects)} provider objects for one attempt; {primary.object_id} is the one counted, "
            f"this one {obj.status} {obj.amount_cents} {obj.currency}",
        )
        for obj in objects
        if obj is not primary
    ]


def _compare(line: LedgerLine, obj: ProviderLine) -> list[Finding]:
    """Every way one ledger row and its provider object disagree, or `matched`."""
    key, claim = line.key, line.claim_id
    ledger_paid = line.status == PAID
    if not ledger_paid and obj.status == FAILED:
        detail = f"ledger {line.status}, provider failed"
        return [Finding(Kind.no_money_moved, key, claim, line, obj, detail)]
    found = []
    if not (ledger_paid and obj.status == PAID):  # the only other agreement, failed/failed, is above
        detail = f"ledger {line.status}, provider {obj.status}"
        found.append(Finding(Kind.status_mismatch, key, claim, line, obj, detail))
    if line.amount_cents != obj.amount_cents:
        detail = f"ledger {line.amount_cents}, provider {obj.amount_cents}"
        found.append(Finding(Kind.amount_mismatch, key, claim, line, obj, detail))
    if line.currency != obj.currency:
        detail = f"ledger {line.currency}, provider {obj.currency}"
        found.append(Finding(Kind.currency_mismatch, key, claim, line, obj, detail))
    if line.provider_ref != obj.object_id and (ledger_paid or line.provider_ref is not None):
        detail = f"ledger provider_ref {line.provider_ref}, provider object {obj.object_id}"
        found.append(Finding(Kind.ref_mismatch, key, claim, line, obj, detail))
    return found or [Finding(Kind.matched, key, claim, line, obj)]
