"""A provider that keeps its payments in a local SQLite file: the embedded default until Stripe."""

import sqlite3
import uuid
from pathlib import Path

from payments.provider import PaymentReceipt, PaymentRequest


class LocalProvider:
    name = "local"

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        with self._connect() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS payments (idempotency_key TEXT PRIMARY KEY, "
                "ref TEXT NOT NULL, claim_id TEXT NOT NULL, amount_cents INTEGER NOT NULL, "
                "currency TEXT NOT NULL)"
            )

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self._path, timeout=30, isolation_level="IMMEDIATE")

    def pay(self, request: PaymentRequest) -> PaymentReceipt:
        with self._connect() as db:
            db.execute(
                "INSERT OR IGNORE INTO payments VALUES (?, ?, ?, ?, ?)",
                (
                    request.idempotency_key,
                    f"lpay_{uuid.uuid4().hex[:16]}",
                    request.claim_id,
                    request.amount_cents,
                    request.currency,
                ),
            )
            (ref,) = db.execute(
                "SELECT ref FROM payments WHERE idempotency_key = ?", (request.idempotency_key,)
            ).fetchone()
        return PaymentReceipt(provider_ref=ref)

    def payments(self) -> list[tuple[str, str, str, int, str]]:
        """Every payment made, for reconciliation and tests."""
        with self._connect() as db:
            return db.execute("SELECT * FROM payments ORDER BY idempotency_key").fetchall()
