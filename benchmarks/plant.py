"""Both sides of a benchmark reconciliation, generated with a known set of planted discrepancies.

The ledger goes into a real SQLite database with the project's schema (`migrate`, then SQLAlchemy
Core bulk inserts into `payouts`); the provider side into a JSONL file of Stripe-shaped Transfers
and Refunds, in creation order, the way a listing would hand them over. Generation streams: only
a batch of rows and the small planted sets are in memory, so its peak does not grow with N.

The inserts go through a plain engine, without `make_engine`'s PRAGMA foreign_keys=ON, so no
claims or payout_details rows are needed: the benchmark reads payouts only.

Background (not discrepancies): 97 in 100 payouts paid and matched; per hundred, one failed with
no provider object, one pending with none (in flight), one failed whose refund failed too. Then,
`per_kind` of each kind planted on distinct paid rows (`PLANTS`), each with the exact findings it
must produce, keyed (kind, idempotency key or None, provider object id or None).
"""

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, insert

from schema import tables
from schema.database import migrate
from schema.names import payout_key

START = datetime(2025, 1, 1, tzinfo=UTC)
SPACING_S = 2  # seconds between payouts: a million span about 23 days
_MIX = 0x9E3779B97F4A7C15  # odd, so i -> i * _MIX mod 2**48 is a bijection: unique, unordered claim ids
_MASK = (1 << 48) - 1
_BATCH = 10_000

PLANTS = (
    "missing_at_provider",
    "missing_in_ledger",  # half an object for an attempt the ledger lacks, half an object with no metadata
    "amount_mismatch",
    "currency_mismatch",
    "status_mismatch",  # paid/reversed, paid/partly reversed, paid/refund failed, pending/paid, failed/paid
    "ref_mismatch",
    "duplicate",  # a second object for the attempt, at the same or another amount
    "duplicate_and_amount",  # a duplicate, and the object the ledger names at the wrong amount
)


@dataclass
class Manifest:
    payouts: int
    provider_objects: int = 0
    expected: set = field(default_factory=set)  # (kind, key, object id) of every planted finding
    expected_matched: int = 0
    expected_no_money_moved: int = 0
    period: tuple[datetime, datetime] = (START, START)

    def planted_per_kind(self) -> Counter:
        return Counter(kind for kind, _key, _oid in self.expected)


def generate(n: int, db_path: Path, jsonl_path: Path, *, per_kind: int = 100, seed: int = 1) -> Manifest:
    rnd = random.Random(seed)
    plant_at = _plant_rows(rnd, n, per_kind)
    manifest = Manifest(payouts=n, period=(START, START + timedelta(seconds=SPACING_S * n + 3600)))
    url = f"sqlite:///{db_path}"
    migrate(url)
    engine = create_engine(url)
    payouts = tables.Payout.__table__
    with engine.begin() as conn, open(jsonl_path, "w") as out:
        rows = []
        for i in range(n):
            row, objects = _payout(i, plant_at.get(i), manifest)
            rows.append(row)
            for obj in objects:
                out.write(json.dumps(obj, separators=(",", ":")))
                out.write("\n")
            manifest.provider_objects += len(objects)
            if len(rows) == _BATCH:
                conn.execute(insert(payouts), rows)
                rows = []
        if rows:
            conn.execute(insert(payouts), rows)
    engine.dispose()
    return manifest


def _plant_rows(rnd: random.Random, n: int, per_kind: int) -> dict[int, tuple[str, int]]:
    """Row index -> (plant, its ordinal among that plant's rows), on distinct background-paid rows."""
    wanted = per_kind * len(PLANTS)
    if wanted > n * 0.9:
        raise ValueError(f"{n} payouts are too few for {per_kind} plants of each kind")
    chosen: list[int] = []
    taken: set[int] = set()
    while len(chosen) < wanted:
        i = rnd.randrange(n)
        if i % 100 < 97 and i not in taken:
            taken.add(i)
            chosen.append(i)
    return {i: (PLANTS[j // per_kind], j % per_kind) for j, i in enumerate(chosen)}


def _payout(i: int, plant: tuple[str, int] | None, manifest: Manifest) -> tuple[dict, list[dict]]:
    """The ledger row for payout i and the provider objects that go with it."""
    claim = f"{(i * _MIX) & _MASK:012x}"
    key = payout_key(claim, 1)
    created = START + timedelta(seconds=SPACING_S * i)
    stamp = int(created.timestamp()) + 1  # the provider stamps its object a second after the ledger row
    r = i % 100
    method = "refund" if r % 10 < 3 or r == 99 else "transfer"
    amount = 1_000 + (i * 7_919) % 500_000
    oid = f"{'re' if method == 'refund' else 'tr'}_{i:08x}{claim}Ab"
    status, ref = "paid", oid
    objects = [_object(method, oid, claim, 1, amount, stamp)]
    clean = True
    if r == 97 or r == 98:  # failed at the provider's refusal, or still in flight: nothing sent
        status, ref, objects, clean = ("failed" if r == 97 else "pending"), None, [], False
        manifest.expected_no_money_moved += 1
    elif r == 99:  # the refund was made and failed; the ledger knows
        status, ref, clean = "failed", None, False
        objects[0]["status"] = "failed"
        manifest.expected_no_money_moved += 1
    if plant is not None:
        kind, ordinal = plant
        status, ref, objects, (clean, findings) = _apply(
            kind, ordinal, i, claim, key, method, amount, stamp, status, ref, objects
        )
        manifest.expected |= findings
    manifest.expected_matched += clean
    row = {
        "claim_id": claim,
        "attempt": 1,
        "idempotency_key": key,
        "amount_cents": amount,
        "currency": "USD",
        "payout_details_id": None,
        "method": method,
        "status": status,
        "provider": "stripe",
        "provider_ref": ref,
        "created_at": created,
        "completed_at": None if status == "pending" else created + timedelta(seconds=2),
        "failure_code": "card_declined" if status == "failed" else None,
        "failure_message": None,
    }
    return row, objects


def _apply(kind, ordinal, i, claim, key, method, amount, stamp, status, ref, objects):
    """Plant one discrepancy; returns the row's status, ref, objects, and (row still matched, findings)."""
    first = objects[0]
    oid = first["id"]
    if kind == "missing_at_provider":
        return status, ref, [], (False, {(kind, key, None)})
    if kind == "missing_in_ledger":
        if ordinal % 2:
            stray = _object("transfer", f"tr_{i:08x}{claim}Nm", None, None, 777, stamp + 5)
            return status, ref, objects + [stray], (True, {(kind, None, stray["id"])})
        stray = _object(method, f"{oid}A2", claim, 2, amount, stamp + 60)  # attempt 2: no ledger row
        return status, ref, objects + [stray], (True, {(kind, payout_key(claim, 2), stray["id"])})
    if kind == "amount_mismatch":
        first["amount"] = amount + 1 + ordinal
        return status, ref, objects, (False, {(kind, key, oid)})
    if kind == "currency_mismatch":
        first["currency"] = "eur"
        return status, ref, objects, (False, {(kind, key, oid)})
    if kind == "status_mismatch":
        variant = ordinal % 5
        if variant in (0, 1):  # reversed in whole, or in part
            first = objects[0] = _object("transfer", oid, claim, 1, amount, stamp)
            first["amount_reversed"] = amount if variant == 0 else amount // 2
            first["reversed"] = variant == 0
        elif variant == 2:  # the refund failed after the ledger recorded it paid
            first = objects[0] = _object("refund", oid, claim, 1, amount, stamp)
            first["status"] = "failed"
        else:  # paid at the provider; the ledger never learnt it (pending) or thinks it failed
            status, ref = ("pending" if variant == 3 else "failed"), None
        return status, ref, objects, (False, {(kind, key, oid)})
    if kind == "ref_mismatch":
        return status, f"tr_elsewhere{i:08x}", objects, (False, {(kind, key, oid)})
    duplicate = _object(method, f"{oid}D2", claim, 1, amount + (ordinal % 2) * 50, stamp + 30)
    if kind == "duplicate":
        return status, ref, objects + [duplicate], (True, {(kind, key, duplicate["id"])})
    first["amount"] = amount - 100  # duplicate_and_amount
    found = {("amount_mismatch", key, oid), ("duplicate", key, duplicate["id"])}
    return status, ref, objects + [duplicate], (False, found)


def _object(method: str, oid: str, claim: str | None, attempt: int | None, amount: int, created: int) -> dict:
    """A Stripe Transfer or Refund as the API returns it, with the metadata StripeProvider sets."""
    metadata = {"claim_id": claim, "attempt": str(attempt)} if claim else {}
    if method == "transfer":
        return {
            "id": oid,
            "object": "transfer",
            "amount": amount,
            "amount_reversed": 0,
            "created": created,
            "currency": "usd",
            "destination": "acct_1PgafTB7WZ01zgkW",
            "livemode": False,
            "metadata": metadata,
            "reversed": False,
            "transfer_group": f"claim-{claim}" if claim else None,
        }
    return {
        "id": oid,
        "object": "refund",
        "amount": amount,
        "charge": "ch_1PgafuB7WZ01zgkWXYmPNZs8",
        "created": created,
        "currency": "usd",
        "metadata": metadata,
        "reason": None,
        "status": "succeeded",
    }
